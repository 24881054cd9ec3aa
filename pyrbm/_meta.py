"""Constants every layer of pyrbm shares; this module imports nothing."""

__version__ = "0.1.0"

#: How pyrbm's energies, couplings and fields are measured (their ``units`` attribute is ``"1"``).
ENERGY_UNIT_NOTE = "in units of k_B T at beta = 1"
