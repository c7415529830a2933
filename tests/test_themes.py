"""Themes: unlinked feedback grouped by what it says, labelled by its characteristic words."""

from __future__ import annotations

from demandsync.sync.linking.similarity import term_vectors
from demandsync.sync.linking.themes import find_themes

INBOX = [
    "Please add dark mode",
    "dark mode would be nice at night",
    "export to pdf please",
    "I want PDF export of reports",
    "the app crashes on login",
    "random",
]


def test_similar_items_land_together_and_the_rest_stay_single() -> None:
    themes = find_themes(INBOX)
    assert [(t.members, t.words) for t in themes] == [((0, 1), ("dark", "mode")), ((2, 3), ("export", "pdf"))]
    assert themes[0].label == "dark · mode"


def test_a_label_uses_the_word_people_wrote_most() -> None:
    texts = ["exporting invoices", "exports of invoices", "export invoices to excel", "invoice export broken"]
    [theme] = find_themes(texts, items_per_theme=40)
    assert set(theme.words) == {"export", "invoices"} and sorted(theme.members) == [0, 1, 2, 3]


def test_same_inbox_same_themes() -> None:
    assert find_themes(INBOX) == find_themes(list(INBOX))


def test_nothing_to_group() -> None:
    assert find_themes([]) == []
    assert find_themes(["the", "!!!", "a an the"]) == []
    assert find_themes(["one lonely request"]) == []


def test_term_vectors_are_the_linkers_stems_normalised() -> None:
    vectors = term_vectors(["Listening offline", "listen offline please"])
    assert vectors.terms == ["listen", "offlin"]  # textnorm.stem drops the final e
    assert vectors.matrix.shape == (2, 2)
    assert round(float((vectors.matrix[0] @ vectors.matrix[1].T).toarray()[0, 0]), 6) == 1.0


def test_every_member_says_a_word_of_its_theme() -> None:
    texts = [*INBOX, "dark theme for the editor", "PDF exports are blurry", "offline mode for trains",
             "work offline in the tunnel", "login fails with okta", "okta login loops"]
    for theme in find_themes(texts):
        assert all(any(w in texts[m].lower() for w in theme.words) for m in theme.members), theme
    assert [(t.words, len(t.members)) for t in find_themes(texts)] == [
        (("dark", "mode"), 3), (("export", "pdf"), 3), (("okta", "login"), 3), (("offline",), 2)]
