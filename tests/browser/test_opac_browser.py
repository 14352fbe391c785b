import pytest
from playwright.sync_api import Page, expect

MAX_TABS = 10

# The apps the public pages use. Naming them makes the flush after the test
# TRUNCATE ... CASCADE, which PostgreSQL needs: the search index table is not
# a model, so Django does not know it references the catalogue's records.
PUBLIC_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "shelfguard.core",
    "shelfguard.catalog",
    "shelfguard.opac",
    "shelfguard.api",
]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, available_apps=PUBLIC_APPS)
def test_search_facet_and_record_by_keyboard(page: Page):
    stylesheets = []
    page.on("response", lambda r: stylesheets.append(r.status) if r.url.endswith(".css") else None)
    page.goto("/")

    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "q":
            break
    else:
        pytest.fail(f"the search box was not reached in {MAX_TABS} presses of Tab")
    page.keyboard.type("river")
    page.keyboard.press("Enter")

    expect(page).to_have_url("/search/?q=river")
    expect(page.locator(".result-count")).to_have_text("3 records found.")
    expect(page.get_by_role("heading", level=3, name="River fishing")).to_be_visible()

    page.get_by_role("complementary").get_by_role("link", name="English").click()
    expect(page.locator(".result-count")).to_have_text("2 records found.")
    expect(page.get_by_role("link", name="Oiseaux de la rivière : river birds")).to_have_count(0)
    expect(page.get_by_role("link", name="Remove filter: Language: English")).to_be_visible()

    page.get_by_role("link", name="Birds of the river valley").click()
    expect(page).to_have_url("/records/ocm001/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Birds of the river valley")
    expect(page.get_by_text("978-0-316-53450-5")).to_be_visible()
    main = page.get_by_role("region", name="Main Library")
    expect(main.get_by_text("1 of 1 copy available")).to_be_visible()
    expect(main.get_by_role("cell", name="598.2 RIV")).to_be_visible()
    east = page.get_by_role("region", name="East Branch")
    expect(east.get_by_role("cell", name="On loan")).to_be_visible()

    assert page.context.cookies() == []
    # 304: the browser revalidated the stylesheet it already had.
    assert stylesheets and all(status in (200, 304) for status in stylesheets), (
        f"stylesheet responses {stylesheets}: are the package's static/ files found "
        "(STATICFILES_DIRS)?"
    )
