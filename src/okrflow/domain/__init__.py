"""Pure domain: dataclasses, enums and rules. Imports nothing else of okrflow and does no I/O."""
