"""Logging out of the site while the field app keeps unsent records on this device asks first."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Tab

pytestmark = pytest.mark.browser

_KEEP_ONE = """
async (name) => await new Promise((resolve, reject) => {
  const open = indexedDB.open(name, 1);
  open.onupgradeneeded = () => { open.result.createObjectStore('records', { keyPath: 'client_id' }); };
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    const tx = db.transaction('records', 'readwrite');
    tx.objectStore('records').put({ client_id: 'f-1', kind: 'new_outfall' });
    tx.oncomplete = () => { db.close(); resolve(true); };
  };
})
"""


_CLEAR = """
async (name) => await new Promise((resolve) => {
  const open = indexedDB.open(name);
  open.onsuccess = () => {
    const db = open.result;
    const tx = db.transaction('records', 'readwrite');
    tx.objectStore('records').clear();
    tx.oncomplete = () => { db.close(); resolve(true); };
  };
})
"""


def test_log_out_asks_while_field_records_wait(tab: Tab, live_server, login_page) -> None:
    page = tab.page
    page.goto(f"{live_server.url}/account")
    page.evaluate(_KEEP_ONE, "outfalls-field-leader")
    asked: list[str] = []
    answer = {"accept": False}

    def on_dialog(dialog) -> None:
        asked.append(dialog.message)
        dialog.accept() if answer["accept"] else dialog.dismiss()

    page.on("dialog", on_dialog)
    page.click("#logout")
    page.wait_for_timeout(800)
    assert len(asked) == 1 and "1" in asked[0]  # one record waits: asked; "cancel" keeps the session
    page.goto(f"{live_server.url}/account")
    assert page.is_visible("#current-user")

    answer["accept"] = True
    with page.expect_navigation():
        page.click("#logout")
    assert len(asked) == 2 and not page.is_visible("#current-user")  # asked again, and "OK" logs out

    login_page(page, live_server.url, "leader")
    page.evaluate(_CLEAR, "outfalls-field-leader")
    with page.expect_navigation():
        page.click("#logout")
    assert len(asked) == 2 and not page.is_visible("#current-user")  # nothing waits: no question
