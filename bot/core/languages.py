"""Languages the bot may speak, each named in its own language for the picker, and the
names residents type when they ask for one ("en español por favor", "can you speak Polish")."""

from __future__ import annotations

from bot.core.i18n import normalise

NATIVE_NAMES = {
    "en": "English",
    "es": "Español",
    "pl": "Polski",
    "zh_Hans": "中文",
    "ar": "العربية",
    "fr": "Français",
    "ht": "Kreyòl ayisyen",
    "uk": "Українська",
    # Chicago's Language Access Ordinance (Municipal Code 2-40) names these besides the above.
    "tl": "Tagalog",
    "ko": "한국어",
    "hi": "हिन्दी",
    "ur": "اردو",
    "gu": "ગુજરાતી",
    "ru": "Русский",
}

# Words a resident may type for each language, in that language, in English, and in the
# others. Matched after bot.core.i18n.normalise, so every tuple below is normalised once at
# import (NFKD splits Hangul syllables into jamo and drops the Devanagari virama and the
# Cyrillic breve: "한국어", "हिन्दी" and "українська" are only found in that form). "hindi"
# alone is Tagalog for "no": Hindi is asked for with two words ("in hindi", "hindi mein").
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
    "tl": ("tagalog", "sa tagalog", "filipino", "pilipino", "tagalo", "tagalski", "他加禄语",
           "菲律宾语", "التاغالوغية", "tagalòg", "тагальська", "тагальский", "타갈로그어",
           "타갈로그", "टागालोग", "تگالوگ"),
    "ko": ("한국어", "한국말", "한글로", "korean", "coreano", "koreanski", "po koreansku", "韩语",
           "韩文", "朝鲜语", "الكورية", "coreen", "koreyen", "корейська", "корейською",
           "корейский", "कोरियाई", "کوریائی", "કોરિયન"),
    "hi": ("हिंदी", "हिन्दी", "in hindi", "hindi mein", "hindi me", "hindi main",
           "hindi language", "en hindi", "po hindi", "印地语", "الهندية", "хінді", "хинди",
           "힌디어", "ہندی", "હિન્દી"),
    "ur": ("اردو", "اردو میں", "urdu", "urdu mein", "urdu me", "urdu main", "उर्दू", "乌尔都语",
           "الأردية", "الاردية", "урду", "우르두어", "ourdou", "ઉર્દૂ"),
    "gu": ("ગુજરાતી", "ગુજરાતીમાં", "gujarati", "gujrati", "gujarati ma", "guyarati",
           "gudzarati", "gudżarati", "古吉拉特语", "الغوجاراتية", "гуджараті", "гуджарати",
           "구자라트어", "गुजराती", "گجراتی"),
    "ru": ("русский", "по-русски", "на русском", "russian", "ruso", "rosyjski", "po rosyjsku",
           "俄语", "الروسية", "russe", "ris", "російська", "російською", "러시아어", "रूसी",
           "روسی", "રશિયન"),
}

# Typed answers to a yes / no / not-sure question, in every language (lower case, no
# accents: matched after bot.core.i18n.normalise, which also turns "ё"/"й" and Arabic hamza
# forms into their base letters). "Not sure" is tried first and is never "no" ("no se",
# "no c", "nie jestem pewna", "مش متأكد" all start like a no); Latin phrases match as whole
# words, the others anywhere in the text. Then YES_PHRASES ("no tak" is Polish for yes),
# then the first word, or the first characters for Chinese ("不是" answers no).
NOT_SURE: tuple[str, ...] = (
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
    # Tagalog, Korean, Hindi, Urdu, Gujarati, Russian (romanised too)
    "hindi ko alam", "di ko alam", "ewan", "ewan ko", "hindi sigurado", "di sigurado",
    "hindi ko maintindihan", "baka", "siguro", "모르겠", "몰라", "잘 모르", "글쎄",
    "확실하지", "पता नहीं", "मालूम नहीं", "समझ नहीं", "शायद", "pata nahi", "pta nahi",
    "maloom nahi", "malum nahi", "samajh nahi", "shayad", "возможно", "не понимаю",
    "پتہ نہیں", "معلوم نہیں", "سمجھ نہیں", "شاید", "ખબર નથી", "ખ્યાલ નથી", "કદાચ",
    "ખાતરી નથી", "khabar nathi", "khabar nai",
)
YES_PHRASES = ("no tak", "no pewnie", "no jasne", "of course", "por supuesto", "bien sur")
YES_WORDS: tuple[str, ...] = ("yes", "yeah", "yea", "yep", "yup", "ya", "yah", "yess", "yesss", "ye",
             "sure", "correct", "right", "si", "sii", "siii", "sip", "simon", "aja",
             "claro", "cierto", "afirmativo", "tak", "jasne", "pewnie", "oczywiscie", "owszem",
             "oui", "ouais", "ouai", "ouep", "wi", "wiwi", "dako",
             "так", "ага", "авжеж", "звісно", "звичайно", "да", "угу",
             "نعم", "ايوه", "ايوة", "ايوا", "ايه", "اه", "اجل", "اكيد", "طبعا", "اي", "صح",
             "oo", "opo", "oho", "네", "예", "응", "맞아요", "हाँ", "हां", "जी", "haan", "haa",
             "han", "ji", "ہاں", "جی", "હા", "હાં", "конечно")
NO_WORDS: tuple[str, ...] = ("no", "nope", "nop", "nah", "naa", "not", "nel", "nelson", "nanay", "nones",
            "negativo", "nie", "niet", "non", "ні", "нi", "нема", "немає", "нет", "ne",
            "لا", "لأ", "مش", "كلا", "ابدا", "hindi", "hinde", "di", "아니요", "아니오", "아니", "아뇨",
            "नहीं", "नही", "ना", "nahi", "nahin", "nai", "نہیں", "نا", "ના", "નહીં")
YES_PREFIXES_ZH = ("是", "对", "有", "嗯", "好", "可以")
NO_PREFIXES_ZH = ("不是", "不", "没有", "没")

TYPED_NAMES = {code: tuple(dict.fromkeys(normalise(n) for n in names))
               for code, names in TYPED_NAMES.items()}
NOT_SURE = tuple(dict.fromkeys(normalise(p) for p in NOT_SURE))
YES_WORDS = tuple(dict.fromkeys(normalise(w) for w in YES_WORDS))
NO_WORDS = tuple(dict.fromkeys(normalise(w) for w in NO_WORDS))

# Scripts that name a language when only one live language is written in them: one word in
# Hangul is Korean, but one Cyrillic word is Ukrainian only while Russian is not offered.
SCRIPTS = {"zh_Hans": ((0x4E00, 0x9FFF),),
           "ar": ((0x0600, 0x06FF), (0x0750, 0x077F), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF)),
           "uk": ((0x0400, 0x04FF),),
           "ko": ((0xAC00, 0xD7AF), (0x1100, 0x11FF), (0x3130, 0x318F)),
           "hi": ((0x0900, 0x097F),),
           "gu": ((0x0A80, 0x0AFF),)}
SCRIPTS["ur"] = SCRIPTS["ar"]  # Urdu and Arabic share the script: one word does not tell them
SCRIPTS["ru"] = SCRIPTS["uk"]  # apart, nor Russian and Ukrainian


def _in_script(char: str, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= ord(char) <= high for low, high in ranges)


def one_word_is_enough(text: str, lang: str, languages: tuple[str, ...]) -> bool:
    """True when `text` is written in a script only `lang` uses among the live languages."""
    ranges = SCRIPTS.get(lang)
    if ranges is None or any(SCRIPTS.get(other) == ranges for other in languages if other != lang):
        return False
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(_in_script(c, ranges) for c in letters) * 2 > len(letters)


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
    if base == "fil":  # Filipino, as phones name it, is what our Tagalog catalog is written in
        return by_lower.get("tl")
    return by_lower.get(base)
