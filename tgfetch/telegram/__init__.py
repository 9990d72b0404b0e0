"""Telegram access: the only package that imports telethon."""
