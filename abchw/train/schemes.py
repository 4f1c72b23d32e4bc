"""What a training run quantizes, and how: ABC-Net and the seed baselines as one data type.

A :class:`Scheme` is a :class:`WeightScheme` (how every conv and dense layer's weights become
binary bases) and an :class:`ActivationScheme` (what every hidden stage emits after its batch
norm). The first stage always reads the 8-bit pixels exactly, as 8 bit-planes (input value
``2 * pixel - 255``), and the last stage always returns raw scores, because that is what the
hardware does (``docs/arithmetic.md``); every weight layer, first and last included, is
quantized by the scheme.

Weights (``WeightScheme.kind``):

* ``"full"``: real weights (full precision; not exportable).
* ``"bases"``: ABC-Net, equations 1-3: ``B_m = sign(W - mean(W) + u_m std(W))``, ``alpha``
  the ridge least-squares fit, recomputed from the latent real weights in every forward pass;
  as a whole (``alpha`` ``(M,)``) or channel-wise (``(C_out, M)``, paper section 3.1.2). The
  shifts ``u`` default to the paper's ``-1 + 2(m-1)/(M-1)``.
* ``"sign"``: BNN, ``B = sign(W)`` and ``alpha = 1``: no scale at all.
* ``"scaled"``: trained binarization, ``B = sign(W)`` times a *trainable* scale per output
  channel (initialised to the channel's ``mean |W|``), learnt by back-propagation instead of
  computed.

Activations (``ActivationScheme.kind``):

* ``"relu"``: real ReLU activations, zero-padded (full precision; not exportable).
* ``"binary"``: ABC-Net, equation 11: N binary activations ``A_n = H_{v_n}(R)`` with shifts
  ``v_n`` and coefficients ``beta_n``, each trainable or fixed; the hidden value is
  ``sum_n beta_n A_n`` and padding is ``-sum_n beta_n`` (every plane at bit 0).
* ``"uniform"``: DoReFa's k-bit activations ``q = round(clip(R, 0, 1) (2^k - 1))``, read by the
  next layer as k bit-planes weighted ``2^b``: the value ``(2q - (2^k - 1)) / (2^k - 1)`` in the
  +-1 encoding, padding -1 (every plane at bit 0).

:func:`baseline` builds the seed baselines by name (:data:`BASELINES`); :func:`abcnet` builds
ABC-Net for any M and N. ``Scheme.exportable`` says whether the abchw model format can hold
the trained network and ``Scheme.export_problem`` why not.
"""

from dataclasses import dataclass

from ..golden.approximation import DEFAULT_RIDGE, default_shifts
from ..network import M_MAX, N_MAX
from .params import TrainError, check_bool, check_choice, check_float, check_floats, check_int

__all__ = [
    "BASELINES",
    "PAPER_ACTIVATION_SHIFTS",
    "ActivationScheme",
    "Scheme",
    "WeightScheme",
    "abcnet",
    "activation_shifts",
    "baseline",
    "scheme_for",
]

#: Initial activation shifts ``v`` of the paper's Table S4 (ResNet-18), by N.
PAPER_ACTIVATION_SHIFTS = {
    1: (0.0,),
    3: (-1.5, 0.0, 1.5),
    5: (-3.5, -2.5, -1.5, 0.0, 2.5),
}

#: Straight-through window of BNN and XNOR-Net: ``|R| <= 1`` around the sign's ``v = 0.5``.
SIGN_WINDOW = (-0.5, 1.5)


def activation_shifts(n):
    """Initial shifts ``v``: Table S4's for N = 1, 3, 5; otherwise N values spread evenly over
    ``[-1.5, 1.5]`` (the span of Table S4's N = 3 entry), ``0.0`` for N = 1."""
    n = check_int("n", n, 1, N_MAX)
    if n in PAPER_ACTIVATION_SHIFTS:
        return PAPER_ACTIVATION_SHIFTS[n]
    return tuple(-1.5 + 3.0 * i / (n - 1) for i in range(n))


@dataclass(frozen=True, kw_only=True)
class WeightScheme:
    """How weights are binarized; see the module docstring for the kinds."""
    kind: str
    m: int = 1
    channelwise: bool = False
    shifts: tuple = None
    ridge: float = DEFAULT_RIDGE
    alpha_gradient: bool = False

    def __post_init__(self):
        check_choice("weights.kind", self.kind, ("full", "bases", "sign", "scaled"))
        m = check_int("m", self.m, 1, M_MAX)
        if self.kind != "bases" and m != 1:
            raise TrainError(f"'m' must be 1 for {self.kind!r} weights, not {self.m!r}")
        object.__setattr__(self, "m", m)
        object.__setattr__(self, "channelwise", check_bool("channelwise", self.channelwise))
        shifts = default_shifts(m) if self.shifts is None else self.shifts
        object.__setattr__(self, "shifts", check_floats("shifts", shifts, m))
        object.__setattr__(self, "ridge", check_float("ridge", self.ridge, lo=0.0))
        object.__setattr__(self, "alpha_gradient",
                           check_bool("alpha_gradient", self.alpha_gradient))


@dataclass(frozen=True, kw_only=True)
class ActivationScheme:
    """What a hidden stage emits after batch norm; see the module docstring for the kinds."""
    kind: str
    n: int = 1
    shifts: tuple = None
    scales: tuple = None
    train_shifts: bool = True
    train_scales: bool = True
    window: tuple = (0.0, 1.0)
    bits: int = 8

    def __post_init__(self):
        check_choice("activations.kind", self.kind, ("relu", "binary", "uniform"))
        n = check_int("n", self.n, 1, N_MAX)
        if self.kind != "binary" and n != 1:
            raise TrainError(f"'n' must be 1 for {self.kind!r} activations, not {self.n!r}")
        object.__setattr__(self, "n", n)
        shifts = activation_shifts(n) if self.shifts is None else self.shifts
        object.__setattr__(self, "shifts", check_floats("activation shifts", shifts, n))
        scales = (1.0,) * n if self.scales is None else self.scales
        object.__setattr__(self, "scales", check_floats("activation scales", scales, n))
        object.__setattr__(self, "train_shifts", check_bool("train_shifts", self.train_shifts))
        object.__setattr__(self, "train_scales", check_bool("train_scales", self.train_scales))
        window = check_floats("window", self.window, 2)
        if not window[0] < window[1]:
            raise TrainError(f"'window' must be (lo, hi) with lo < hi, not {self.window!r}")
        object.__setattr__(self, "window", window)
        object.__setattr__(self, "bits", check_int("bits", self.bits, 2, 16))


@dataclass(frozen=True, kw_only=True)
class Scheme:
    """A named pair of weight and activation schemes."""
    name: str
    weights: WeightScheme
    activations: ActivationScheme

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TrainError(f"'name' must be a non-empty text, not {self.name!r}")
        if not isinstance(self.weights, WeightScheme):
            raise TrainError(f"'weights' must be a WeightScheme, not {self.weights!r}")
        if not isinstance(self.activations, ActivationScheme):
            raise TrainError(f"'activations' must be an ActivationScheme, "
                             f"not {self.activations!r}")

    @property
    def full_precision(self):
        return self.weights.kind == "full" and self.activations.kind == "relu"

    @property
    def export_problem(self):
        """Why the abchw model format cannot hold this scheme's network, or None if it can."""
        if self.weights.kind == "full":
            return ("its weights are real numbers; a model file holds only binary bases "
                    "with coefficients")
        if self.activations.kind == "relu":
            return ("its hidden activations are real numbers; the hardware's stages emit "
                    "binary planes from comparators")
        if self.activations.kind == "uniform":
            levels = 2 ** self.activations.bits - 1
            return (f"its {self.activations.bits}-bit activations are the bit-planes of a "
                    f"quantized value; only the top plane is a threshold of the "
                    f"pre-activation, and thresholds are all a stage's comparator bank emits; "
                    f"as thresholds (a thermometer code) they would need N = {levels} > "
                    f"N_MAX = {N_MAX} activations")
        return None

    @property
    def exportable(self):
        return self.export_problem is None

    def describe(self):
        """A JSON-ready summary."""
        w, a = self.weights, self.activations
        weights = {"kind": w.kind, "M": w.m}
        if w.kind == "bases":
            weights.update(channelwise=w.channelwise, shifts=list(w.shifts), ridge=w.ridge,
                           alpha_gradient=w.alpha_gradient)
        activations = {"kind": a.kind, "N": a.n}
        if a.kind == "binary":
            activations.update(shifts=list(a.shifts), scales=list(a.scales),
                               train_shifts=a.train_shifts, train_scales=a.train_scales,
                               window=list(a.window))
        if a.kind == "uniform":
            activations.update(bits=a.bits)
        return {"name": self.name, "weights": weights, "activations": activations,
                "exportable": self.exportable}


def abcnet(*, m, n, channelwise=False):
    """ABC-Net with M weight bases (paper shifts, least-squares alpha) and N binary activations
    (Table S4's initial shifts, ``beta = 1``, both trained, window ``(0, 1)``)."""
    m = check_int("m", m, 1, M_MAX)
    n = check_int("n", n, 1, N_MAX)
    channelwise = check_bool("channelwise", channelwise)
    name = f"abcnet-M{m}N{n}" + ("-channelwise" if channelwise else "")
    return Scheme(name=name, weights=WeightScheme(kind="bases", m=m, channelwise=channelwise),
                  activations=ActivationScheme(kind="binary", n=n))


def _full_precision():
    return Scheme(name="full", weights=WeightScheme(kind="full"),
                  activations=ActivationScheme(kind="relu"))


def _bnn():
    return Scheme(name="bnn", weights=WeightScheme(kind="sign"),
                  activations=ActivationScheme(kind="binary", shifts=(0.5,), scales=(1.0,),
                                               train_shifts=False, train_scales=False,
                                               window=SIGN_WINDOW))


def _xnor_net():
    return Scheme(name="xnor", weights=WeightScheme(kind="bases", m=1, channelwise=True),
                  activations=ActivationScheme(kind="binary", shifts=(0.5,), scales=(1.0,),
                                               train_shifts=False, train_scales=True,
                                               window=SIGN_WINDOW))


def _bwn():
    return Scheme(name="bwn", weights=WeightScheme(kind="bases", m=1, channelwise=True),
                  activations=ActivationScheme(kind="uniform", bits=8))


def _dorefa_w1a4():
    return Scheme(name="dorefa-w1a4", weights=WeightScheme(kind="bases", m=1),
                  activations=ActivationScheme(kind="uniform", bits=4))


def _trained_binarization():
    return Scheme(name="trained-binarization", weights=WeightScheme(kind="scaled"),
                  activations=ActivationScheme(kind="binary", shifts=(0.5,), scales=(1.0,),
                                               train_shifts=False, train_scales=True,
                                               window=SIGN_WINDOW))


#: The seed baselines by name, each a function returning its :class:`Scheme`.
BASELINES = {
    "full": _full_precision,
    "bnn": _bnn,
    "xnor": _xnor_net,
    "bwn": _bwn,
    "dorefa-w1a4": _dorefa_w1a4,
    "trained-binarization": _trained_binarization,
}


def baseline(name):
    """The seed baseline called ``name`` (one of :data:`BASELINES`)."""
    check_choice("baseline", name, tuple(BASELINES))
    return BASELINES[name]()


def scheme_for(*, baseline_name="abcnet", m=None, n=None, channelwise=False):
    """The scheme a command line asks for: ``abcnet`` with M and N (default 3), or a baseline,
    which fixes M and N itself (giving them is an error)."""
    check_choice("baseline", baseline_name, ("abcnet",) + tuple(BASELINES))
    if baseline_name == "abcnet":
        return abcnet(m=3 if m is None else m, n=3 if n is None else n, channelwise=channelwise)
    for flag, value in (("M", m), ("N", n)):
        if value is not None:
            raise TrainError(f"--{flag} applies to ABC-Net only; baseline {baseline_name!r} "
                             f"fixes it, not {value!r}")
    if channelwise:
        raise TrainError(f"--channelwise applies to ABC-Net only, not to baseline "
                         f"{baseline_name!r}")
    return baseline(baseline_name)
