"""Accessibility checks any page test can run on the page a Browser shows: WCAG AA text contrast of what is rendered,
a visible focus indicator on everything Tab reaches, landmarks, labelled form controls."""

from __future__ import annotations

from typing import Any

from browser.driver import Browser

# Colours as Chromium computed them, backgrounds blended up the tree (an element over a background image is
# skipped: its contrast cannot be known from colours). Large text (24 px, or 18.66 px bold) needs 3:1, other 4.5:1.
_COLOUR_JS = """
function parse(text) {
  const m = text.match(/rgba?\\(([^)]+)\\)/);
  if (!m) return null;
  const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
  return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
}
function blend(top, bottom) {
  const a = top.a;
  const mix = (x, y) => x * a + y * (1 - a);
  return {r: mix(top.r, bottom.r), g: mix(top.g, bottom.g), b: mix(top.b, bottom.b), a: 1};
}
function luminance(c) {
  const f = v => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
}
function ratio(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}
function backgroundOf(element) {
  const layers = [];
  for (let e = element; e; e = e.parentElement) {
    const style = getComputedStyle(e);
    if (style.backgroundImage !== 'none') return null;
    const c = parse(style.backgroundColor);
    if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
  }
  let bg = {r: 255, g: 255, b: 255, a: 1};
  for (let i = layers.length - 1; i >= 0; i--) bg = blend(layers[i], bg);
  return bg;
}
function hex(c) { return '#' + [c.r, c.g, c.b].map(v => Math.round(v).toString(16).padStart(2, '0')).join(''); }
"""

_CONTRAST_JS = (
    _COLOUR_JS
    + """
const failures = [];
let checked = 0;
for (const element of document.body.querySelectorAll('*')) {
  const text = [...element.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
  if (!text) continue;
  const style = getComputedStyle(element);
  if (style.visibility === 'hidden' || style.display === 'none' || !element.getClientRects().length) continue;
  const bg = backgroundOf(element);
  if (!bg) continue;
  let fg = parse(style.color);
  if (fg.a < 1) fg = blend(fg, bg);
  const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
  const needed = (size >= 24 || (size >= 18.66 && bold)) ? 3 : 4.5;
  const got = ratio(fg, bg);
  checked++;
  const name = element.tagName.toLowerCase() + (element.className ? '.' + element.className : '');
  if (got + 0.005 < needed) failures.push({element: name, text: text.slice(0, 40),
    ratio: Math.round(got * 100) / 100, needed, color: hex(fg), background: hex(bg)});
}
return {checked, failures};
"""
)

_FOCUS_JS = (
    _COLOUR_JS
    + """
const e = document.activeElement;
if (!e || e === document.body) return null;
const style = getComputedStyle(e);
const width = parseFloat(style.outlineWidth) || 0;
const outline = style.outlineStyle !== 'none' && width >= 2;
const shadow = style.boxShadow !== 'none';
let contrast = null;
if (outline) {
  const bg = backgroundOf(e.parentElement || e);
  if (bg) contrast = Math.round(ratio(parse(style.outlineColor), bg) * 100) / 100;
}
const r = e.getBoundingClientRect();
return {element: e.tagName.toLowerCase(), text: (e.textContent || '').trim().slice(0, 40), id: e.id,
        href: e.getAttribute('href'), outline, shadow, contrast,
        on_screen: r.bottom > 0 && r.right > 0 && r.top < window.innerHeight && r.left < window.innerWidth};
"""
)

_LANDMARKS_JS = """
const named = e => e.getAttribute('aria-label') || (e.getAttribute('aria-labelledby') &&
  document.getElementById(e.getAttribute('aria-labelledby'))?.textContent.trim()) || '';
const sectioning = ['article', 'aside', 'main', 'nav', 'section'];
const outside = e => !sectioning.some(tag => e.parentElement.closest(tag));
return {
  main: document.querySelectorAll('main, [role=main]').length,
  banner: [...document.querySelectorAll('header')].filter(outside).length,
  contentinfo: [...document.querySelectorAll('footer')].filter(outside).length,
  navigation: [...document.querySelectorAll('nav')].map(named),
  regions: [...document.querySelectorAll('section')].map(named),
  h1: [...document.querySelectorAll('h1')].map(e => e.textContent.trim()),
  lang: document.documentElement.lang,
  first_link: document.querySelector('a') && {text: document.querySelector('a').textContent.trim(),
                                             href: document.querySelector('a').getAttribute('href')},
};
"""

_UNLABELLED_JS = """
const skip = new Set(['hidden', 'submit', 'button', 'reset', 'image']);
return [...document.querySelectorAll('input, select, textarea')]
  .filter(e => !skip.has((e.getAttribute('type') || '').toLowerCase()))
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
  .map(e => e.outerHTML.slice(0, 120));
"""


def contrast_failures(browser: Browser) -> list[dict[str, Any]]:
    """Every rendered text below WCAG AA contrast on the current page (an empty list passes)."""
    result = browser.js(_CONTRAST_JS)
    assert result["checked"] > 0, "no text found on the page"
    return list(result["failures"])


def focused(browser: Browser) -> dict[str, Any] | None:
    """What has the keyboard focus, and whether it shows it (an outline of 2 px or more, or a box shadow)."""
    result: dict[str, Any] | None = browser.js(_FOCUS_JS)
    return result


def tab_through(browser: Browser, limit: int = 200) -> list[dict[str, Any]]:
    """Press Tab from the top of the page until the focus leaves it or comes back round; what each stop was."""
    browser.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    stops: list[dict[str, Any]] = []
    for _ in range(limit):
        browser.press_tab()
        stop = focused(browser)
        if stop is None or (stops and _same(stop, stops[0])):
            break
        stops.append(stop)
    return stops


def _same(one: dict[str, Any], other: dict[str, Any]) -> bool:
    return all(one[key] == other[key] for key in ("element", "text", "id", "href"))


def landmarks(browser: Browser) -> dict[str, Any]:
    result: dict[str, Any] = browser.js(_LANDMARKS_JS)
    return result


def unlabelled_controls(browser: Browser) -> list[str]:
    """Form controls (other than buttons and hidden fields) with no label, aria-label or aria-labelledby."""
    return list(browser.js(_UNLABELLED_JS))
