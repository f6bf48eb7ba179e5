"""Build options of a DPUCZDX8G core: what the DPU TRD's ``dpu_conf.vh`` sets and the IP version.

Every option here changes resources, latency or which layers the DPU can run
(the others of ``dpu_conf.vh``, DRAM banks, low-power mode and the device
family, change neither and are written as the TRD's defaults).  The options
and their meaning come from the public DPU TRD configuration files and the
Vitis AI target factory that decodes a DPU's fingerprint:

* IP 3.x (Vitis AI 1.2-2.0, instruction set ISA0): depthwise engine,
  average pooling and element-wise multiplication are options
  (``DWCV_ENABLE``, ``POOL_AVG_ENABLE``, ``ELEW_MULT_ENABLE``); there is no
  hard-sigmoid, so h-swish / h-sigmoid run on the CPU.  The element-wise
  multiply is off in the DPU TRD's default configuration
  (``DPU_ELEW_MULT_ENA`` 0 in its Vivado-flow README, ``ELEW_MULT_DISABLE``
  in its B2304 and DPU-PYNQ's KV260 ``dpu_conf.vh``) and in Vitis AI's
  registered ``DPUCZDX8G_ISA0_B4096_MAX_BG2`` target (fingerprint
  ``0x1000020f6014407``; ``..._MAX_EM``, ``0x1000030f7014407``, has it):
  such a core runs a squeeze-excitation's scale on the CPU.  The class
  default keeps it on (``elementwise_multiply=True``); describe a TRD-default
  core with ``elementwise_multiply=False``.
* IP 4.0 / 4.1 (Vitis AI 2.5 / 3.0, ISA1): depthwise convolution, pooling,
  element-wise multiply and hard-sigmoid all run on the ALU and are always
  built in (``create_target_DPUCZDX8G_ISA1.cpp`` adds them unconditionally);
  the ReLU types are chosen separately for the convolution engine and the ALU.

``ram_usage`` is the number of image-buffer bank groups: 2 for "low", 3 for
"high" (``IMG_BG`` of the fingerprint; DPU-PYNQ's Ultra96-V2 build with
``RAM_USAGE_LOW`` reports 2 groups, the TRD's ``B1600_MAX`` target with
``RAM_USAGE_HIGH`` 3).  ``dsp_usage`` "low" builds the accumulators in LUTs
(``DSP48_USAGE_LOW``).  ``uram_per_core`` UltraRAM blocks per core take over
on-chip buffers from BRAM (``URAM_ENABLE``).  ``softmax`` is the separate
softmax core of the MPSoC DPU IP (a Vivado IP parameter, not a
``dpu_conf.vh`` macro).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

__all__ = ["IP_VERSIONS", "RELU_TYPES", "DpuOptions"]

#: DPUCZDX8G IP versions and the Vitis AI release that ships each.
IP_VERSIONS: Mapping[str, str] = {"3.2": "Vitis AI 1.2", "3.3": "Vitis AI 1.3", "3.4": "Vitis AI 1.4 / 2.0",
                                  "4.0": "Vitis AI 2.5", "4.1": "Vitis AI 3.0"}
#: ReLU-type settings of ``dpu_conf.vh`` (``RELU_*`` in IP 3.x; ``CONV_RELU_*`` / ``ALU_RELU_*`` in 4.x).
RELU_TYPES = ("relu_relu6", "relu_leakyrelu_relu6")
_LOW_HIGH = ("low", "high")


@dataclass(frozen=True)
class DpuOptions:
    """The build options of one DPUCZDX8G core (see the module docstring).

    Examples
    --------
    >>> DpuOptions().isa
    1
    >>> DpuOptions(ip_version="3.4").runs_hard_swish
    False
    >>> DpuOptions(ip_version="3.4", hard_sigmoid=True)
    Traceback (most recent call last):
    ...
    ValueError: DpuOptions: hard_sigmoid needs DPUCZDX8G IP 4.0 or later (Vitis AI 2.5 on); IP 3.4 has none
    """

    ip_version: str = "4.1"
    ram_usage: str = "low"
    dsp_usage: str = "high"
    uram_per_core: int = 0
    channel_augmentation: bool = True
    depthwise: bool = True
    avg_pool: bool = True
    elementwise_multiply: bool = True
    hard_sigmoid: bool | None = None
    conv_relu: str = "relu_leakyrelu_relu6"
    alu_relu: str = "relu_relu6"
    save_argmax: bool = False
    softmax: bool = False

    def __post_init__(self) -> None:
        if self.ip_version not in IP_VERSIONS:
            raise ValueError(f"DpuOptions: ip_version must be one of {list(IP_VERSIONS)}, got {self.ip_version!r}")
        for name in ("ram_usage", "dsp_usage"):
            if getattr(self, name) not in _LOW_HIGH:
                raise ValueError(f"DpuOptions: {name} must be 'low' or 'high', got {getattr(self, name)!r}")
        for name in ("conv_relu", "alu_relu"):
            if getattr(self, name) not in RELU_TYPES:
                raise ValueError(f"DpuOptions: {name} must be one of {RELU_TYPES}, got {getattr(self, name)!r}")
        if self.hard_sigmoid is None:  # default: what the IP version has
            object.__setattr__(self, "hard_sigmoid", self.isa == 1)
        for f in fields(self):
            if f.type in ("bool", "bool | None") and not isinstance(getattr(self, f.name), bool):
                raise ValueError(f"DpuOptions: {f.name} must be True or False, got {getattr(self, f.name)!r}")
        uram = self.uram_per_core
        if isinstance(uram, bool) or not isinstance(uram, int) or uram < 0:
            raise ValueError(f"DpuOptions: uram_per_core must be a non-negative integer, got {uram!r}")
        if self.isa == 1:
            built_in = [name for name in ("depthwise", "avg_pool", "elementwise_multiply", "hard_sigmoid")
                        if not getattr(self, name)]
            if built_in:
                raise ValueError(f"DpuOptions: IP {self.ip_version} always builds {', '.join(built_in)} into its ALU "
                                 "(no dpu_conf.vh option turns it off); use ip_version '3.4' or earlier")
        else:
            if self.hard_sigmoid:
                raise ValueError("DpuOptions: hard_sigmoid needs DPUCZDX8G IP 4.0 or later (Vitis AI 2.5 on); "
                                 f"IP {self.ip_version} has none")
            if self.save_argmax:
                raise ValueError(f"DpuOptions: save_argmax needs IP 4.1 (Vitis AI 3.0); IP {self.ip_version} has none")
        if self.ip_version == "4.0" and self.save_argmax:
            raise ValueError("DpuOptions: save_argmax needs IP 4.1 (Vitis AI 3.0); IP 4.0 has none")

    @property
    def isa(self) -> int:
        """Instruction-set version of the fingerprint: 0 for IP 3.x, 1 for IP 4.x."""
        return 0 if self.ip_version.startswith("3.") else 1

    @property
    def vitis_ai(self) -> str:
        """The Vitis AI release whose compiler targets this IP version."""
        return IP_VERSIONS[self.ip_version]

    @property
    def image_bank_groups(self) -> int:
        """Image-buffer bank groups: 2 with RAM usage low, 3 with high."""
        return 3 if self.ram_usage == "high" else 2

    @property
    def runs_hard_swish(self) -> bool:
        """h-swish = x * h-sigmoid(x): needs the hard-sigmoid and the element-wise multiply."""
        return bool(self.hard_sigmoid) and self.elementwise_multiply

    def replace(self, **changes) -> DpuOptions:
        """A copy with some options changed."""
        return DpuOptions.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping) -> DpuOptions:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the allowed ones."""
        allowed = [f.name for f in fields(cls)]
        unknown = set(data) - set(allowed)
        if unknown:
            raise ValueError(f"unknown DpuOptions field(s) {sorted(unknown)}; allowed: {allowed}")
        return cls(**data)
