"""Gateware around iCE40 hard macros, each with a behavioural model of the same cycle behaviour."""
