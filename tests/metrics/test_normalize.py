from susurrus.metrics import cased_words, is_word, normalize


def test_normalize_is_whisper_english():
    assert normalize("Hello, Mr. Smith; 25 colours!") == "hello mister smith 25 colors"
    assert normalize("Twenty-five Percent.") == "25%"
    assert normalize("") == ""
    assert normalize(" ,.! ") == ""


def test_cased_words_keeps_case_and_splits_marks():
    assert cased_words("Hello, world.") == ["Hello", ",", "world", "."]
    assert cased_words('"Don\'t" go... e-mail 3.5?!') == [
        '"', "Don't", '"', "go", "...", "e-mail", "3.5", "?", "!"]
    assert cased_words("Siobhán’s café") == ["Siobhán’s", "café"]
    assert cased_words("") == []


def test_is_word():
    assert is_word("Paris") and is_word("3.5")
    assert not is_word(",") and not is_word("...")
