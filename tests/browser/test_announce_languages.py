"""The display speaks each call in every ANNOUNCE_LANGUAGES language (here en, hi), one after the
other, each utterance with its `lang`; a name is given only to a voice whose language suits the
name's script, so an English voice never gets an Arabic or Devanagari name.

The TV's speech engine is stood in for by a fake speechSynthesis (the browser's API, not ours)
that records every utterance's text and lang and lists the voices a test chooses.
"""

import pytest
from playwright.sync_api import expect

from .conftest import TV
from .helpers import wait_live

SITE_ENV = {"ANNOUNCE_LANGUAGES": "en,hi,xx"}  # names masked, as on every public screen by default

FAKE_SPEECH = """
(() => {
  const record = { utterances: [], active: 0 };
  class Utterance extends EventTarget {
    constructor(text) { super(); this.text = text; this.lang = ""; this.voice = null; this.rate = 1; }
  }
  const voices = VOICES;
  const synth = {
    speaking: false, pending: false, paused: false,
    speak(u) {
      record.utterances.push({ text: u.text, lang: u.lang, voice: u.voice ? u.voice.lang : null });
      record.active += 1;
      setTimeout(() => {
        record.active -= 1;
        const ended = new Event("end");
        u.dispatchEvent(ended);
        if (typeof u.onend === "function") u.onend(ended);  // what the real utterance's IDL attribute does
      }, 20);
    },
    cancel() {}, pause() {}, resume() {},
    getVoices() { return voices; },
    addEventListener() {}, removeEventListener() {},
  };
  Object.defineProperty(window, "speechSynthesis", { value: synth, configurable: true });
  Object.defineProperty(window, "SpeechSynthesisUtterance", { value: Utterance, configurable: true });
  window.__speech = record;
})();
"""
ENGLISH_ONLY = '[{"name": "English", "lang": "en-US", "localService": true}]'
BOTH_VOICES = ENGLISH_ONLY[:-1] + ', {"name": "Hindi", "lang": "hi-IN", "localService": true}]'

PATIENTS = [("+919876590001", "Asha Rao"), ("+919876590002", "محمد علي"), ("+919876590003", "प्रिया शर्मा")]


@pytest.fixture(scope="module")
def clinic(site):
    return site.data(
        "setup",
        services=[{"service_name": "OPD"}],
        staff=[{"username": "nurse1"}],
        counters=[{"counter_name": "Counter 1", "service": "OPD", "held_by": "nurse1"}],
        joins=[{"phone": phone, "name": name, "service": "OPD"} for phone, name in PATIENTS],
    )


def open_display(open_context, voices: str):
    page = open_context(TV, init_scripts=[FAKE_SPEECH.replace("VOICES", voices)]).new_page()
    page.goto("/display/")
    page.get_by_role("button", name="Click to enable sound").click()
    expect(page.locator("#sound-gate")).to_be_hidden()
    wait_live(page)
    page.evaluate("Object.assign(QueueDisplay.timing, { chime: 10, pause: 10 })")
    return page


def test_each_call_is_spoken_in_english_then_hindi_and_names_go_only_to_a_voice_of_their_script(
    site, clinic, open_context
):
    page = open_display(open_context, BOTH_VOICES)
    for _patient in PATIENTS:
        site.data("serve_next", counter="Counter 1", by="nurse1")
    page.wait_for_function("window.__speech.utterances.length >= 18 && !QueueDisplay.speaking")
    said = page.evaluate("window.__speech.utterances")

    assert [u["lang"] for u in said] == ["en-US", "hi-IN"] * 9  # three calls, three times, two languages
    assert [u["voice"] for u in said] == ["en-US", "hi-IN"] * 9
    asha, mohammed, priya = said[0:6], said[6:12], said[12:18]
    assert asha[0]["text"] == "Ticket OPD zero zero one, Asha R., please go to Counter 1"
    assert asha[1]["text"] == "टिकट OPD शून्य शून्य एक, कृपया Counter 1 पर जाएँ"  # a Latin name: not for Hindi
    assert "محمد" not in mohammed[0]["text"] and "محمد" not in mohammed[1]["text"]
    assert mohammed[0]["text"] == "Ticket OPD zero zero two, please go to Counter 1"
    assert priya[0]["text"] == "Ticket OPD zero zero three, please go to Counter 1"
    assert priya[1]["text"] == "टिकट OPD शून्य शून्य तीन, प्रिया श., कृपया Counter 1 पर जाएँ"
    assert [u["text"] for u in asha[2:]] == [asha[0]["text"], asha[1]["text"]] * 2
    expect(page.locator("#voice-missing")).to_be_hidden()


def test_the_sound_step_names_a_language_with_no_voice(site, clinic, open_context):
    page = open_context(TV, init_scripts=[FAKE_SPEECH.replace("VOICES", ENGLISH_ONLY)]).new_page()
    page.goto("/display/")
    status = page.locator("#voice-status")
    expect(status).to_have_attribute("data-missing", "true")
    expect(status).to_contain_text("हिंदी")
    expect(page.locator("#voice-missing")).to_be_visible()
    assert page.evaluate("QueueDisplay.missingVoices") == ["hi-IN"]
