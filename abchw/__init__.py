"""abchw: FPGA accelerators for ABC-Net binary CNNs, generated in Amaranth, checked bit for bit
against a NumPy golden model."""

__version__ = "0.1.0"
