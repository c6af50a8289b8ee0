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
