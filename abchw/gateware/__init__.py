"""Amaranth gateware of the accelerator: processing elements and the blocks around them."""
