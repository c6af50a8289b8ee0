"""Languages the bot may speak, each named in its own language for the picker, and the
names residents type when they ask for one ("en español por favor", "can you speak Polish")."""

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

# Lower case, without accents (matched after bot.core.i18n.normalise). Words a resident may
# type for each language, in that language, in English, and in the other six.
TYPED_NAMES = {
    "en": ("english", "ingles", "angielski", "po angielsku", "英语", "英文", "الانجليزية",
           "الإنجليزية", "انجليزي", "anglais", "angle", "англійська", "англійською", "английский"),
    "es": ("espanol", "spanish", "castellano", "hiszpanski", "po hiszpansku", "西班牙语",
           "西班牙文", "الاسبانية", "الإسبانية", "اسباني", "espagnol", "panyol", "espanyol",
           "іспанська", "іспанською", "испанский"),
    "pl": ("polski", "polish", "po polsku", "polaco", "波兰语", "البولندية", "polonais",
           "polone", "польська", "польською", "польский"),
    "zh_Hans": ("中文", "汉语", "普通话", "chinese", "mandarin", "chino", "chinski", "po chinsku",
                "الصينية", "chinois", "chinwa", "китайська", "китайською", "китайский"),
    "ar": ("العربية", "عربي", "بالعربي", "arabic", "arabe", "arabski", "po arabsku", "阿拉伯语",
           "arab", "арабська", "арабською", "арабский"),
    "fr": ("francais", "french", "frances", "francuski", "po francusku", "法语", "法文",
           "الفرنسية", "franse", "французька", "французькою", "французский"),
    "ht": ("kreyol", "kreyol ayisyen", "creole", "haitian", "haitian creole", "creole haitien",
           "criollo", "kreolski", "海地克里奥尔语", "الكريولية", "креольська"),
    "uk": ("українська", "українською", "ukrainian", "ucraniano", "ukrainski", "po ukrainsku",
           "乌克兰语", "الاوكرانية", "الأوكرانية", "ukrainien", "ukrenyen", "украинский"),
}

# Typed answers to a yes / no / not-sure question, in every language (lower case, no
# accents: matched after bot.core.i18n.normalise). "Not sure" is tried first ("no se" is
# not "no"); yes and no are recognised by the first word, or the first characters for
# Chinese ("no tiene firma" answers no; "不是" answers no).
NOT_SURE = ("not sure", "dont know", "don t know", "idk", "maybe", "no se", "no estoy seguro",
            "no entiendo", "no comprendo", "dont understand", "don t understand", "nie rozumiem",
            "不明白", "不懂", "لا افهم", "لا أفهم", "je ne comprends pas", "comprends pas",
            "m pa konprann", "не розумію", "не зрозумів", "не зрозуміла",
            "no estoy segura", "tal vez", "quizas", "nie wiem", "nie jestem pew", "moze",
            "不知道", "不确定", "不清楚", "لا اعرف", "لا أعرف", "مش عارف", "ما بعرف", "مو متأكد",
            "je ne sais pas", "sais pas", "pas sur", "peut etre", "m pa konnen", "pa konnen",
            "m pa si", "petet", "не знаю", "не впевнен", "можливо", "незнаю")
YES_WORDS = ("yes", "yeah", "yep", "yup", "si", "claro", "sip", "tak", "no tak", "oui",
             "ouais", "wi", "так", "ага", "да", "نعم", "ايوه", "ايوة", "أيوه", "اه", "أجل")
NO_WORDS = ("no", "nope", "nah", "not", "nie", "non", "ні", "нi", "нет", "ne", "لا",
            "لأ", "مش")
YES_PREFIXES_ZH = ("是", "对", "有", "嗯", "好")
NO_PREFIXES_ZH = ("不是", "不", "没有", "没")


def language_from_hint(hint: str | None, languages: tuple[str, ...]) -> str | None:
    """A platform's language tag ('es-MX', 'zh-hans', 'uk') -> one of our codes, or None."""
    if not hint:
        return None
    tag = hint.replace("-", "_").lower()
    by_lower = {code.lower(): code for code in languages}
    if tag in by_lower:
        return by_lower[tag]
    base = tag.split("_")[0]
    if base == "zh":  # zh, zh-CN, zh-Hans, zh-SG: Simplified Chinese is what we have
        return by_lower.get("zh_hans")
    return by_lower.get(base)
