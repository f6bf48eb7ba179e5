"""ofa_hw.zoo: every network's MACs / params against the published figures, top-1 with its scale."""

import csv
import json

import pytest

from accel_models import group_by_block
from ofa_hw import zoo
from ofa_hw.space import SubnetConfig

ROWS = list(csv.DictReader((zoo.DATA_DIR / "published_top1.csv").open()))


def _build(row) -> zoo.ZooNetwork:
    width, resolution = float(row["width"]), int(row["resolution"])
    if row["network"] == "mobilenet-v2":
        return zoo.mobilenet_v2(width, resolution)
    if row["network"] == "mobilenet-v3-large":
        return zoo.mobilenet_v3_large(width, resolution)
    return zoo.resnet(int(row["network"].removeprefix("resnet")), resolution)


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r['network']}-{r['width']}-{r['resolution']}")
def test_macs_and_params_match_the_published_table(row):
    """The tables' MACs / params (rounded to 1 M / 0.01 M) are an independent count of each architecture."""
    net = _build(row)
    assert net.macs / 1e6 == pytest.approx(float(row["macs_m"]), abs=1.0)
    assert net.params / 1e6 == pytest.approx(float(row["params_m"]), abs=0.1)
    assert net.top1 == float(row["top1"]) and "ImageNet-val" in net.top1_scale and net.source


def test_registry_and_unpublished_variants():
    names = zoo.list_networks()
    assert len(zoo.list_networks("mobilenet-v2-*")) == 22 and len(zoo.list_networks("ofa-*")) == 50
    assert all(zoo.get_network(n).top1 is not None for n in names)
    odd = zoo.mobilenet_v2(0.9, 200)
    assert odd.top1 is None and odd.top1_scale == zoo.NO_PUBLISHED_TOP1 and odd.layers()[0].in_shape == (3, 200, 200)
    with pytest.raises(KeyError, match="unknown network"):
        zoo.get_network("mobilenet-v2-2.0-224")
    with pytest.raises(ValueError, match="width must be a number in"):
        zoo.mobilenet_v2(2.0)
    with pytest.raises(ValueError, match="resolution"):
        zoo.mobilenet_v2(1.0, 16)


def test_blocks_are_units():
    units = group_by_block(zoo.mobilenet_v2().layers())
    assert len(units) == 1 + 17 + 3  # stem, 17 inverted-residual blocks, final conv, pool, classifier
    assert len(group_by_block(zoo.resnet(50).layers())) == 1 + 16 + 2  # stem conv + max pool, 16 blocks, head


@pytest.mark.filterwarnings("ignore:resolution.*outside the range:UserWarning")
def test_ofa_specialized_nets_carry_their_measured_labels(shared_data):
    entries = json.loads((shared_data / "ofa" / "ofa_specialized_nets.json").read_text())
    nets = zoo.ofa_specialized()
    assert len(nets) == len(entries) == 50
    by_label = {net.source.rsplit(": ", 1)[1]: net for net in nets}
    for label, entry in entries.items():
        net = by_label[label]
        assert net.top1 == float(label.split("_top1-")[1].split("_")[0])
        assert net.config == SubnetConfig.from_dict(entry) and net.resolution == entry["image_size"]
        assert "measured" in net.top1_scale and net.layers() == net.config.layers()
    assert {n.family for n in nets} == {"ofa-mbv3-w1.0", "ofa-mbv3-w1.2", "ofa-proxyless-w1.3"}
