"""larkdou: a knowledge assistant for Feishu / Lark group chats."""

__version__ = "0.1.0"
