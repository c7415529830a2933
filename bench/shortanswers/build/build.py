"""Builds epics.csv and answers.csv from issues.tsv (GitHub issue snippets) and is22_items.py (is22-dev reviews)."""
import csv, random, sys, os
sys.path.insert(0, os.path.dirname(__file__))
from is22_items import IS22
OUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IS22_DIR = "/work/shared/realdata/is22-dev"

EPICS = [
 ("dark","Dark mode","Offer a dark colour theme (dark/night mode) that users can toggle or that follows the OS setting, to reduce glare and eye strain in low light."),
 ("sso","Single sign-on (SAML / OIDC)","Let organisations sign users in through their identity provider (Okta, Azure AD / Entra ID, Google Workspace) via SAML 2.0 or OpenID Connect instead of separate passwords."),
 ("export","Export data to CSV / Excel","Allow users to download lists, tables and reports as CSV or XLSX files for analysis in spreadsheet tools."),
 ("import","Import data from files and other apps","Let users bring existing data in by uploading CSV files or importing from other tools (e.g. Evernote .enex) so they can migrate without retyping."),
 ("offline","Offline mode","Keep core features usable without an internet connection (flights, poor coverage) and reconcile changes when the device is back online."),
 ("2fa","Two-factor authentication","Add a second login factor - TOTP authenticator apps (Google Authenticator, Authy), email codes or passkeys - with an option for admins to enforce it."),
 ("notif","Notification settings","Give users control over push and in-app notifications (mute, disable, per-group tones) and make notification delivery reliable."),
 ("calls","Voice and video calling","Let users place voice and video calls inside the app with good call quality, and allow them to turn calling off."),
 ("sync","Cross-device sync","Keep user data and settings synchronised automatically across phone, tablet, desktop and web."),
 ("widget","Home screen widget","Provide home-screen and lock-screen widgets that show key information and quick actions without opening the app."),
 ("shortcuts","Keyboard shortcuts","Add keyboard shortcuts (hotkeys) for frequent actions, with a discoverable shortcut list and customisable bindings."),
 ("calendar","Calendar integration","Sync or subscribe to events with Google Calendar, Outlook and Apple Calendar (ICS/iCal feeds) and add items to the user's calendar."),
 ("i18n","Localization (UI translations)","Translate the user interface into more languages (French, German, Japanese, ...) and accept community translations."),
 ("search","Search","Provide a fast, always-visible search with filters so users can find items (songs, notes, listings) directly."),
 ("applock","App lock (PIN / biometrics)","Protect the app with a PIN, password or fingerprint/face unlock when it is opened."),
 ("api","Public API and webhooks","Expose a documented REST API and outgoing webhooks so customers can pull data programmatically and automate workflows."),
 ("backup","Cloud backup and restore","Back up user data automatically to the cloud (e.g. Google Drive) and restore it on a new device."),
 ("fontsize","Adjustable font size","Let users increase or decrease text size across the UI for readability and accessibility."),
]
KEY = {tag: f"SA-{i+1}" for i, (tag, _, _) in enumerate(EPICS)}

rows = []
# GitHub issue / PR snippets
for r in csv.DictReader(open(os.path.join(os.path.dirname(__file__), "issues.tsv")), delimiter="\t"):
    epic = "" if r["epic"] == "noise" else KEY[r["epic"]]
    rows.append((r["text"].strip(), epic, f"{r['source']} ({r['note']})"))

# is22-dev reviews
reviews = {}
for r in csv.DictReader(open(os.path.join(IS22_DIR, "reviews.csv"))):
    reviews.setdefault(r["app"], []).append((r["review_id"], r["text"]))
judg = {(j["app"], j["feature"], j["review_id"]) for j in csv.DictReader(open(os.path.join(IS22_DIR, "judgments.csv"))) if j["relevant"] == "Y"}
for app, sent, tag, basis, trimmed in IS22:
    hits = [rid for rid, t in reviews[app] if sent in t]
    assert hits, (app, sent)
    rid = hits[0]
    full = next(t for i, t in reviews[app] if i == rid)
    text = trimmed or sent
    notes = []
    if basis.startswith("judged:"):
        feat = basis.split(":", 1)[1]
        assert (app, feat, rid) in judg, (app, feat, rid)
        notes.append(f"review judged relevant (Y) to study feature '{feat}' in judgments.csv")
    else:
        notes.append("epic assigned by compiler (not an is22 judgment)" if tag else "no-epic label assigned by compiler")
    if sent.strip() != full.strip():
        notes.append("sentence/fragment of the review")
    if trimmed:
        notes.append("trimmed (whitespace normalised)")
    src = f"is22-dev reviews.csv app={app} review_id={rid}; " + "; ".join(notes)
    rows.append((text, KEY[tag] if tag else "", src))

random.Random(22).shuffle(rows)
with open(os.path.join(OUT, "epics.csv"), "w", newline="") as f:
    w = csv.writer(f); w.writerow(["key", "summary", "description"])
    for tag, s, d in EPICS: w.writerow([KEY[tag], s, d])
with open(os.path.join(OUT, "answers.csv"), "w", newline="") as f:
    w = csv.writer(f); w.writerow(["id", "text", "epic", "source"])
    for i, (t, e, s) in enumerate(rows, 1): w.writerow([f"A{i:03d}", t, e, s])
print(len(rows), "answers written")
