"""Validation of gateware parameters: one message shape for every block."""

__all__ = ["check_bool", "check_int"]


def check_int(name, value, low, high):
    """Raise ``ValueError`` naming ``name`` unless ``value`` is an int in ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in {low}..{high}, not {value!r}")


def check_bool(name, value):
    """Raise ``ValueError`` naming ``name`` unless ``value`` is ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be a bool, not {value!r}")
