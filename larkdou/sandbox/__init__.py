"""A local Lark Open Platform for tests and the demo: `larkdou sandbox` (see docs/sandbox.md)."""
