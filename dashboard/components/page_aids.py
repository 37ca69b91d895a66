"""Keyboard and small-screen aids every page gets, injected once per run by ``app.py``.

- A visible focus ring on the sidebar's page links (WCAG 2.2 2.4.7 Focus Visible; the ring is
  the theme's link colour, 5.2:1 against the sidebar, above the 3:1 non-text contrast asks).
- A closed sidebar (a phone opens with it closed) is slid off screen but its links and help
  buttons stay in the Tab order: it is made ``inert`` while closed, so Tab does not walk through
  controls no one can see (2.4.11 Focus Not Obscured). Opening it moves focus to its first
  page link (the "Expand sidebar" button that had focus is gone).
- A "Skip to tabs" / "Skip to content" link, the first thing Tab reaches: Enter moves focus to
  the page's open tab (its tab list) or, on a page without tabs, its main heading. It moves
  focus itself instead of following ``#fragment``, which would push a history entry.
- On a narrow screen the tab strip scrolls sideways: when the open tab changes (a link such
  as ``/safety?safety_view=Line+list`` opens a later one) the strip scrolls it into view.

All of it is constant text (no export value, no URL value reaches it). Streamlit has no
option for any of these, so they are CSS and a small script, kept here and nowhere else.
The script runs once per browser tab (a page switch mounts it again: it checks a flag).
"""

from __future__ import annotations

import streamlit as st

AIDS_KEY = "ketaops_aids"  # the hidden container holding the style and script
SKIP_ID = "ketaops-skip"
FOCUS_COLOUR = "#1f6f8b"  # .streamlit/config.toml linkColor

CSS = f"""
.st-key-{AIDS_KEY} {{ display: none; }}
.st-key-ketaops_nav a:focus-visible {{
  outline: 3px solid {FOCUS_COLOUR};
  outline-offset: 2px;
  border-radius: 0.5rem;
}}
#{SKIP_ID} {{
  position: fixed;
  top: 0.5rem;
  left: 0.5rem;
  z-index: 1000100;
  padding: 0.5rem 1rem;
  background: #ffffff;
  color: #1f2d3a;
  border: 2px solid {FOCUS_COLOUR};
  border-radius: 0.5rem;
  font-weight: 600;
  text-decoration: none;
  transform: translateY(-200%);
}}
#{SKIP_ID}:focus {{
  transform: none;
  outline: 3px solid {FOCUS_COLOUR};
  outline-offset: 2px;
}}
"""

SCRIPT = f"""
(() => {{
  if (window.__ketaopsAids) return;
  window.__ketaopsAids = true;
  const tabOf = () =>
    document.querySelector('[data-testid="stMain"] [role="tablist"] [role="tab"][aria-selected="true"]');
  const heading = () => document.querySelector('[data-testid="stMain"] h1');

  const skip = document.createElement("a");
  skip.id = "{SKIP_ID}";
  skip.href = "#";
  skip.textContent = "Skip to content";
  skip.addEventListener("focus", () => {{
    skip.textContent = tabOf() ? "Skip to tabs" : "Skip to content";
  }});
  skip.addEventListener("click", (event) => {{
    event.preventDefault();
    const target = tabOf() || heading();
    if (!target) return;
    if (target.tabIndex < 0 && !target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
    target.focus({{ preventScroll: true }});
    target.scrollIntoView({{ block: "center" }});
  }});
  document.body.prepend(skip);

  // the nearest ancestor of a tab that scrolls sideways (the strip), if any
  const strip = (tab) => {{
    for (let el = tab.parentElement; el && el !== document.body; el = el.parentElement) {{
      if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== "visible") return el;
    }}
    return null;
  }};
  const shown = new WeakMap();  // tab list -> the open tab last brought into view
  let wasClosed = null;
  const sidebar = () => {{
    const bar = document.querySelector('[data-testid="stSidebar"]');
    if (!bar) return;
    const closed = bar.getAttribute("data-collapsed") === "true";
    if (bar.inert !== closed) bar.inert = closed;
    const lost = !document.activeElement || document.activeElement === document.body;
    if (wasClosed === true && !closed && lost) {{
      const first = bar.querySelector(".st-key-ketaops_nav a[href]");
      if (first) first.focus();
    }}
    wasClosed = closed;
  }};
  const update = () => {{
    sidebar();
    for (const tab of document.querySelectorAll('[role="tablist"] [role="tab"][aria-selected="true"]')) {{
      const list = tab.closest('[role="tablist"]');
      const bar = strip(tab);
      if (!bar || shown.get(list) === tab) continue;
      shown.set(list, tab);
      const t = tab.getBoundingClientRect();
      const b = bar.getBoundingClientRect();
      if (t.left < b.left) bar.scrollLeft -= b.left - t.left + 16;
      else if (t.right > b.right) bar.scrollLeft += t.right - b.right + 16;
    }}
    for (const link of document.querySelectorAll(".st-key-ketaops_nav a[href]")) {{
      const here = new URL(link.href, location.href).pathname === location.pathname;
      if (here && link.getAttribute("aria-current") !== "page") link.setAttribute("aria-current", "page");
      if (!here && link.hasAttribute("aria-current")) link.removeAttribute("aria-current");
    }}
  }};
  let queued = false;
  new MutationObserver(() => {{
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {{
      queued = false;
      update();
    }});
  }}).observe(document.body, {{
    subtree: true,
    childList: true,
    attributes: true,
    attributeFilter: ["aria-selected", "data-collapsed"],
  }});
  update();
}})();
"""


def inject() -> None:
    """The aids' style and script, in a hidden container (no space in the layout)."""
    with st.container(key=AIDS_KEY):
        st.html(f"<style>{CSS}</style><script>{SCRIPT}</script>", unsafe_allow_javascript=True)
