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
# accents: matched after bot.core.i18n.normalise, which also turns "ё"/"й" and Arabic hamza
# forms into their base letters). "Not sure" is tried first and is never "no" ("no se",
# "no c", "nie jestem pewna", "مش متأكد" all start like a no); Latin phrases match as whole
# words, the others anywhere in the text. Then YES_PHRASES ("no tak" is Polish for yes),
# then the first word, or the first characters for Chinese ("不是" answers no).
NOT_SURE = (
    # English
    "not sure", "dont know", "don t know", "do not know", "idk", "maybe", "dunno", "no idea",
    "unsure", "not certain", "no clue", "dont understand", "don t understand", "perhaps",
    "i cant tell", "cant tell", "hard to say", "not really sure", "im not sure",
    # Spanish, Spanglish and texting
    "no se", "no c", "nose", "no sep", "ni idea", "no lo se", "no estoy seguro", "no estoy segura",
    "no toy seguro", "no toy segura", "no entiendo", "no comprendo", "tal vez", "talvez",
    "quizas", "quiza", "a lo mejor", "puede ser", "quien sabe", "no sabria", "no sabria decir",
    # Polish
    "nie wiem", "niewiem", "nie jestem pewna", "nie jestem pewien", "nie jestem pewny",
    "nie jestem pewnien", "nie mam pojecia", "moze", "chyba", "trudno powiedziec", "nie rozumiem",
    "bo ja wiem", "sam nie wiem", "sama nie wiem",
    # Chinese
    "不知道", "不确定", "不清楚", "不太确定", "说不准", "不好说", "不明白", "不懂", "也许", "可能吧",
    "不一定", "搞不清",
    # Arabic (and dialects)
    "لا اعرف", "لا اعلم", "لا ادري", "ما ادري", "مدري", "مش عارف", "مش عارفه", "مش عارفة",
    "ما بعرف", "مابعرف", "مش متاكد", "مش متاكده", "مش متاكدة", "مو متاكد", "مو متاكده",
    "مو متاكدة", "لست متاكد", "لست متاكدا", "لست متاكدة", "غير متاكد", "غير متاكدة", "ربما",
    "يمكن", "لا افهم", "مش فاهم", "مش فاهمة",
    # French
    "je ne sais pas", "je sais pas", "sais pas", "chais pas", "jsp", "pas sur", "pas sure",
    "pas certain", "pas certaine", "peut etre", "je ne suis pas sur", "je ne suis pas sure",
    "je ne comprends pas", "comprends pas", "aucune idee",
    # Haitian Creole
    "m pa konnen", "mwen pa konnen", "pa konnen", "m pa konn", "m pa sur", "mwen pa sur",
    "pa sur", "m pa si", "mwen pa si", "petet", "pe tet", "m pa konprann", "mwen pa konprann",
    # Ukrainian (and surzhyk, Russian)
    "не знаю", "незнаю", "не впевнен", "не певен", "не певна", "не певний", "можливо", "мабуть",
    "хз", "не розумію", "не зрозумів", "не зрозуміла", "не уверен", "не уверена", "может быть",
)
YES_PHRASES = ("no tak", "no pewnie", "no jasne", "of course", "por supuesto", "bien sur")
YES_WORDS = ("yes", "yeah", "yea", "yep", "yup", "ya", "yah", "yess", "yesss", "ye",
             "sure", "correct", "right", "si", "sii", "siii", "sip", "simon", "aja",
             "claro", "cierto", "afirmativo", "tak", "jasne", "pewnie", "oczywiscie", "owszem",
             "oui", "ouais", "ouai", "ouep", "wi", "wiwi", "dako",
             "так", "ага", "авжеж", "звісно", "звичайно", "да", "угу",
             "نعم", "ايوه", "ايوة", "ايوا", "ايه", "اه", "اجل", "اكيد", "طبعا", "اي", "صح")
NO_WORDS = ("no", "nope", "nop", "nah", "naa", "not", "nel", "nelson", "nanay", "nones",
            "negativo", "nie", "niet", "non", "ні", "нi", "нема", "немає", "нет", "ne",
            "لا", "لأ", "مش", "كلا", "ابدا")
YES_PREFIXES_ZH = ("是", "对", "有", "嗯", "好", "可以")
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
