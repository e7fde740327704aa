"""The assistant: fetches messages, answers in the group, recalls on command."""
