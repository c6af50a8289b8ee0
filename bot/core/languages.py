"""Languages the bot may speak, each named in its own language for the picker."""

NATIVE_NAMES = {
    "en": "English",
    "es": "Español",
    "pl": "Polski",
    "zh_Hans": "中文",
    "ar": "العربية",
    "fr": "Français",
    "ht": "Kreyòl ayisyen",
    "uk": "Українська",
}
