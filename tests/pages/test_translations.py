"""Every text the pages show exists in both languages: each message of the templates and of adsvc/pages has a
Portuguese translation in the catalog, and the catalog holds no stale ones."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

from adsvc.pages.i18n import CATALOG_DIR, negotiate, read_catalog

REPO = Path(__file__).resolve().parents[2]


def _messages_in_use() -> set[str]:
    found: set[str] = set()
    templates = extract_from_dir(REPO / "templates", method_map=[("pages/**.html", "jinja2")],
                                 options_map={"pages/**.html": {"extensions": "jinja2.ext.i18n"}})  # fmt: skip
    code = extract_from_dir(REPO / "adsvc" / "pages", method_map=[("**.py", "python")],
                            keywords={"gettext": (2,), "_": None})  # fmt: skip
    for _, _, message, _, _ in [*templates, *code]:
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_page_text_has_a_portuguese_translation():
    catalog = read_catalog(CATALOG_DIR, "pt_BR")
    translated = {message.id: message.string for message in catalog if message.id}
    in_use = _messages_in_use()
    assert len(in_use) > 30
    missing = sorted(text for text in in_use if not translated.get(text))
    assert missing == []
    stale = sorted(set(translated) - in_use)
    assert stale == []


def test_accept_language_picks_portuguese_for_any_portuguese_and_english_otherwise():
    assert negotiate("pt-BR,pt;q=0.9") == "pt_BR"
    assert negotiate("pt-PT") == "pt_BR"
    assert negotiate("fr-FR,fr;q=0.9,en;q=0.8") == "en"
    assert negotiate("fr, pt;q=0.5, en;q=0.4") == "pt_BR"
    assert negotiate("en;q=0.2, pt;q=0.9") == "pt_BR"
    assert negotiate("") == "en"
    assert negotiate("pt;q=garbage, en") == "en"


async def test_macros_imported_without_context_speak_the_page_language(client, db, settings):
    from accounts.helpers import insert_account
    from factories import create_user
    from pages.helpers import page, sign_in

    user = await create_user(db, settings)
    await insert_account(db, user_id=user.id)
    await sign_in(client, user.email)
    # syncs/list.html imports the freshness macro without the template's context
    status, html = await page(client, "/syncs", headers={"Accept-Language": "pt-BR"})
    assert status == 200
    assert "Nenhuma sincronização concluída ainda" in html
    assert "No successful sync yet" not in html
