"""Parse the dict forms in which OFA and the tools around it write sub-networks.

Three forms reach :meth:`ofa_hw.SubnetConfig.from_dict`:

* the search encoding ``{'ks': [...20], 'e': [...20], 'd': [...5], 'r': 224 | [224]}``
  (optionally ``'wid': None``, ``'image_size'``, ``'width_mult'``), as OFA's
  evolution finder, its accuracy-predictor data sets and DyNAS-T write it;
  for the ProxylessNAS space ``ks`` / ``e`` have 21 entries (OFA's: one per
  elastic block, the last stage's single block last) or 24 (4 slots per
  stage, as the specialized-net list decodes them) and ``d`` has 6;
* an entry of OFA's list of specialized networks: the search encoding plus
  ``net_name``, ``image_size``, ``supernet``, ``stage_out_channels`` and the
  decoded ``blocks`` (``blocks_fields`` names their columns);
* an OFA ``net.config`` (``first_conv``, ``blocks`` of ``ResidualBlock``
  dicts, ``final_expand_layer`` ...), which carries no resolution.

Every form is checked against the space it claims: unknown keys, a foreign
super-network and blocks that disagree with ``ks``/``e``/``d`` are errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accel_models.validation import reject_unknown_keys

from .space import SLOTS_PER_STAGE, OFASpace, get_space, list_spaces, space_of_width

__all__ = ["parse_subnet_dict"]

_SEARCH_KEYS = frozenset({"ks", "e", "d", "r", "wid", "image_size", "width_mult"})
_SPECIALIZED_KEYS = _SEARCH_KEYS | {"net_name", "supernet", "stage_out_channels", "blocks", "blocks_fields"}
_NET_CONFIG_KEYS = frozenset({"name", "bn", "first_conv", "blocks", "final_expand_layer", "feature_mix_layer",
                              "classifier"})
_BLOCK_FIELDS = ["in", "out", "k", "stride", "expand", "mid", "act", "se"]


def _one_value(name: str, *candidates: Any) -> Any:
    """The single value the non-None candidates agree on (None if there are none)."""
    given = [c for c in candidates if c is not None]
    if any(g != given[0] for g in given[1:]):
        raise ValueError(f"conflicting values for {name}: {given}")
    return given[0] if given else None


def _resolution(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ValueError(f"r: expected one resolution (an int or a one-element list), got {value!r}")
        return value[0]
    return value


def _int_list(name: str, value: Any) -> tuple:
    """``value`` as a tuple, or a ValueError naming the field when it is not a list."""
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{name}: expected a list of integers, got {type(value).__name__} {value!r}"[:200])
    return tuple(value)


def _width_of_supernet(supernet: str) -> float:
    for name in list_spaces():
        space = get_space(name)
        if supernet == space.supernet:
            return space.width_mult
    raise ValueError(
        f"supernet {supernet!r} is not an OFA space this tool models; "
        f"supported: {', '.join(get_space(name).supernet for name in list_spaces())}"
    )


def _slots(values, space: OFASpace):
    """Per-slot values; OFA's ProxylessNAS form (one per elastic block, 21) padded to 4 slots per stage."""
    values = tuple(values) if isinstance(values, (list, tuple)) else values
    single = space.single_block_stages
    blocks = space.n_slots - len(single) * (SLOTS_PER_STAGE - 1)
    if single and isinstance(values, tuple) and len(values) == blocks and blocks != space.n_slots:
        padded: list = []
        rest = list(values)
        for stage in range(space.n_stages):
            take = 1 if stage in single else SLOTS_PER_STAGE
            padded += rest[:take] + [0] * (SLOTS_PER_STAGE - take)
            rest = rest[take:]
        return tuple(padded)
    return values


def parse_subnet_dict(data: Mapping, *, width_mult: float | None = None, r: int | None = None) -> dict:
    """Keyword arguments of :class:`~ofa_hw.SubnetConfig` for any accepted dict form."""
    if not isinstance(data, Mapping):
        raise ValueError(f"expected a dict describing a sub-network, got {type(data).__name__}")
    if "first_conv" in data:
        form, parse = "an OFA net.config", _parse_net_config
    elif {"supernet", "net_name", "blocks"} & set(data):
        form, parse = "an OFA specialized-net entry", _parse_specialized
    else:
        form, parse = "a sub-network dict", _parse_search_dict_form
    try:
        kwargs = parse(data, width_mult, r)
    except (TypeError, KeyError, AttributeError, IndexError) as exc:
        # A value of the wrong shape deep inside (a number where a list of blocks belongs, ...).
        raise ValueError(f"malformed {form}: {type(exc).__name__}: {exc}"[:300]) from None
    width = kwargs["width_mult"]
    widths = sorted(get_space(name).width_mult for name in list_spaces())
    if isinstance(width, bool) or width not in widths:
        raise ValueError(f"width_mult: expected one of {widths} (the spaces of {', '.join(list_spaces())}), "
                         f"got {width!r}"[:200])
    return kwargs


def _parse_search_dict_form(data: Mapping, width_mult, r) -> dict:
    return _parse_search_dict(data, width_mult, r, _SEARCH_KEYS, "a sub-network dict")


def _parse_search_dict(data: Mapping, width_mult, r, allowed: frozenset, form: str) -> dict:
    reject_unknown_keys(data, allowed, form)
    missing = [k for k in ("ks", "e", "d") if k not in data]
    if missing:
        raise ValueError(f"{form} lacks key(s) {missing}; it needs 'ks', 'e', 'd' and a resolution "
                         "('r' or 'image_size')")
    if data.get("wid") is not None:
        raise ValueError(f"wid: OFA's MobileNet spaces have no elastic width choice; expected None, "
                         f"got {data['wid']!r}")
    resolution = _one_value("r", _resolution(data.get("r")), data.get("image_size"), r)
    if resolution is None:
        raise ValueError(f"{form} gives no resolution: add 'r' (or 'image_size'), or pass r=")
    width = _one_value("width_mult", data.get("width_mult"), width_mult)
    width = 1.2 if width is None else width
    space = space_of_width(width)
    return {
        "ks": _slots(_int_list("ks", data["ks"]), space),
        "e": _slots(_int_list("e", data["e"]), space),
        "d": _int_list("d", data["d"]),
        "r": resolution,
        "width_mult": width,
    }


def _parse_specialized(data: Mapping, width_mult, r) -> dict:
    form = "an OFA specialized-net entry"
    reject_unknown_keys(data, _SPECIALIZED_KEYS, form)
    width = _one_value("width_mult", _width_of_supernet(data["supernet"]) if "supernet" in data else None,
                       data.get("width_mult"), width_mult)
    kwargs = _parse_search_dict({k: v for k, v in data.items() if k in _SEARCH_KEYS} | {"width_mult": width},
                                None, r, _SEARCH_KEYS, form)
    space = get_space(kwargs["width_mult"])
    if data.get("net_name", space.net_name) != space.net_name:
        raise ValueError(f"net_name {data['net_name']!r} does not match {space.name} (expected {space.net_name!r})")
    if "stage_out_channels" in data and tuple(data["stage_out_channels"]) != space.stage_widths:
        raise ValueError(
            f"stage_out_channels {list(data['stage_out_channels'])} do not match {space.name} "
            f"(expected {list(space.stage_widths)})"
        )
    if "blocks" in data:
        fields = list(data.get("blocks_fields", _BLOCK_FIELDS))
        if fields != _BLOCK_FIELDS:
            raise ValueError(f"blocks_fields {fields} unknown; expected {_BLOCK_FIELDS}")
        rows = [b for b in data["blocks"] if len(b) == len(fields)] if isinstance(data["blocks"], list) else []
        if len(rows) != len(data["blocks"]):
            raise ValueError(f"blocks: every block must list {len(fields)} values ({fields})")
        _check_blocks([dict(zip(fields, b, strict=True)) for b in rows], kwargs, space)
    return kwargs


def _check_blocks(blocks: list[dict], kwargs: dict, space: OFASpace) -> None:
    """Blocks decoded in an entry must be exactly the ones ks/e/d describe."""
    from accel_models.blocks import make_divisible

    expected = 1 + sum(kwargs["d"])
    if len(blocks) != expected:
        raise ValueError(f"blocks: {len(blocks)} blocks listed but d={list(kwargs['d'])} gives {expected}")
    c_in = space.first_block_width
    for n, block in enumerate(blocks[1:], start=1):
        stage = _stage_of_block(n, kwargs["d"])
        slot = SLOTS_PER_STAGE * stage + (n - 1 - sum(kwargs["d"][:stage]))
        k, e = kwargs["ks"][slot], kwargs["e"][slot]
        want = {"in": c_in, "out": space.stage_widths[stage], "k": k, "expand": e,
                "mid": make_divisible(round(c_in * e), 8), "se": space.stage_se[stage],
                "act": space.stage_activations[stage],
                "stride": space.stage_strides[stage] if n == 1 + sum(kwargs["d"][:stage]) else 1}
        got = {key: block[key] for key in want}
        if got != want:
            raise ValueError(f"blocks[{n}] = {got} disagrees with ks/e/d (slot {slot} expects {want})")
        c_in = want["out"]


def _stage_of_block(n: int, depths) -> int:
    """Stage of the n-th block (1-based after the first block)."""
    total = 0
    for stage, depth in enumerate(depths):
        total += depth
        if n <= total:
            return stage
    raise ValueError(f"block {n} lies beyond the {total} blocks of depths {list(depths)}")


def _parse_net_config(data: Mapping, width_mult, r) -> dict:
    reject_unknown_keys(data, _NET_CONFIG_KEYS, "an OFA net.config")
    stem = data["first_conv"].get("out_channels")
    widths = {get_space(n).stem_width: get_space(n).width_mult for n in list_spaces()}
    if stem not in widths:
        raise ValueError(f"first_conv out_channels {stem} matches no OFA space's stem width "
                         f"(expected one of {sorted(widths)})")
    width = _one_value("width_mult", widths[stem], width_mult)
    space = get_space(width)
    names = (space.net_name, f"OFA{space.net_name}")
    if data.get("name", space.net_name) not in names:
        raise ValueError(f"net.config name {data['name']!r} does not match {space.name} (expected one of {names})")
    if r is None:
        raise ValueError("an OFA net.config carries no input resolution: pass r= (e.g. from_dict(cfg, r=224))")
    ks, e, d = [0] * space.n_slots, [0] * space.n_slots, [0] * space.n_stages
    for n, block in enumerate(data["blocks"][1:], start=1):
        conv = block.get("conv", block.get("mobile_inverted_conv"))
        if conv is None:
            raise ValueError(f"net.config blocks[{n}] has neither 'conv' nor 'mobile_inverted_conv'")
        out = conv["out_channels"]
        if out not in space.stage_widths:
            raise ValueError(f"net.config blocks[{n}] has {out} output channels, not a stage width of {space.name}")
        stage = space.stage_widths.index(out)
        if d[stage] == SLOTS_PER_STAGE or any(d[s] for s in range(stage + 1, space.n_stages)):
            raise ValueError(f"net.config blocks[{n}] breaks the stage order of {space.name}")
        slot = SLOTS_PER_STAGE * stage + d[stage]
        ks[slot], e[slot] = conv["kernel_size"], conv["expand_ratio"]
        d[stage] += 1
    return {"ks": tuple(ks), "e": tuple(e), "d": tuple(d), "r": r, "width_mult": width}
