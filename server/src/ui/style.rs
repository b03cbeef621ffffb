//! The catalog's one stylesheet, served at `/ui/static/accord.css`: system fonts,
//! readable line lengths, a single column on phones, visible keyboard focus, and the
//! classes the syntax highlighter and the diff use.

pub const CSS: &str = r#"
:root {
  --fg: #1c2430; --muted: #5b6675; --bg: #ffffff; --panel: #f5f7fa; --line: #d9dee5;
  --accent: #1f5fbf; --ok: #1d7a3a; --warn: #a15c00; --bad: #b42318; --mark: #fff1a8;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); line-height: 1.5;
}
* { box-sizing: border-box; }
body { margin: 0; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, summary:focus-visible {
  outline: 3px solid #f0a500; outline-offset: 2px;
}
.skip { position: absolute; left: -9999px; }
.skip:focus { left: 1rem; top: 1rem; background: #fff; padding: .5rem; z-index: 10; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
header.site { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; justify-content: space-between;
  padding: .75rem 1.25rem; border-bottom: 1px solid var(--line); background: var(--panel); }
header.site nav { display: flex; flex-wrap: wrap; gap: 1rem; align-items: baseline; }
header.site .brand { font-weight: 700; font-size: 1.1rem; text-decoration: none; color: var(--fg); }
header.site .who { color: var(--muted); font-size: .9rem; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem 1.25rem 3rem; }
footer.site { border-top: 1px solid var(--line); color: var(--muted); font-size: .85rem; padding: .5rem 1.25rem; }
h1 { font-size: 1.6rem; margin: .5rem 0; word-break: break-word; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
.muted, .detail { color: var(--muted); }
.badge { display: inline-block; padding: 0 .5rem; border-radius: 1rem; font-size: .8rem; border: 1px solid currentColor; }
.badge.ok { color: var(--ok); } .badge.warn { color: var(--warn); } .badge.bad { color: var(--bad); }
.tag { display: inline-block; padding: 0 .4rem; border-radius: .25rem; background: #e8eef8; font-size: .8rem; text-decoration: none; color: var(--fg); }
.tag.pii { background: #fde2e1; color: var(--bad); font-weight: 600; }
.banner { border: 2px solid var(--warn); background: #fff6e5; padding: .75rem 1rem; border-radius: .5rem; margin: 1rem 0; }
.banner.bad { border-color: var(--bad); background: #fdecea; }
.banner.good { border-color: var(--ok); background: #eaf6ee; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--panel); }
.table-wrap { overflow-x: auto; }
form.search { display: flex; flex-wrap: wrap; gap: .5rem; align-items: flex-end; margin: 1rem 0; }
form.search .field { display: flex; flex-direction: column; font-size: .85rem; }
form.search input[type=search] { min-width: 16rem; }
form.inline { display: inline-flex; gap: .25rem; }
input, select, button { font: inherit; padding: .35rem .5rem; border: 1px solid var(--line); border-radius: .3rem; }
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
ol.results, ul.streams { list-style: none; padding: 0; }
ol.results > li, ul.streams > li { border-bottom: 1px solid var(--line); padding: .6rem 0; }
ul.matches { list-style: none; padding: 0; margin: .25rem 0; }
.result-title { font-weight: 600; font-size: 1.05rem; }
.meta { color: var(--muted); font-size: .85rem; }
mark { background: var(--mark); }
.facets { display: flex; flex-wrap: wrap; gap: 1.5rem; font-size: .85rem; }
.facets ul { list-style: none; padding: 0; margin: .25rem 0; }
.layout-2 { display: grid; grid-template-columns: 1fr; gap: 1rem; }
pre.code { background: #0f1720; color: #e6edf3; padding: .75rem; border-radius: .4rem; overflow-x: auto; font-size: .85rem; line-height: 1.45; }
pre.code .k { color: #7ee0ff; } pre.code .s { color: #a5e887; } pre.code .n { color: #f7b267; }
pre.code .b { color: #ff8ba7; } pre.code .c { color: #8b98a8; font-style: italic; } pre.code .p { color: #c9d1d9; }
.diff { display: grid; grid-template-columns: 1fr 1fr; gap: 0; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .8rem; }
.diff .side { overflow-x: auto; border: 1px solid var(--line); }
.diff table td { border: 0; padding: 0 .4rem; white-space: pre; }
.diff td.ln { color: var(--muted); text-align: right; user-select: none; width: 3rem; }
.diff tr.changed td { background: #fff4d6; } .diff tr.added td { background: #e3f6e8; }
.diff tr.removed td { background: #fde7e7; } .diff tr.blank td { background: #f1f1f1; }
.diff .k { color: #0b5cad; } .diff .s { color: #1d7a3a; } .diff .n { color: #a15c00; }
.diff .b { color: #b42318; } .diff .c { color: #5b6675; font-style: italic; }
.diff .marker { width: 1.2rem; font-weight: 700; }
.legend { display: flex; flex-wrap: wrap; gap: .75rem; font-size: .85rem; padding: 0; list-style: none; }
.legend .swatch { display: inline-block; width: .9rem; height: .9rem; border-radius: .2rem; vertical-align: middle; margin-right: .3rem; border: 1px solid #0003; }
.lineage { overflow-x: auto; border: 1px solid var(--line); border-radius: .4rem; background: #fff; }
.lineage svg { display: block; max-width: none; }
.empty { padding: 1rem; background: var(--panel); border-radius: .4rem; }
.error h1 { color: var(--bad); }
@media (min-width: 60rem) { .layout-2 { grid-template-columns: 2fr 1fr; } }
@media (max-width: 40rem) {
  .diff { grid-template-columns: 1fr; }
  form.search input[type=search] { min-width: 0; width: 100%; }
  dl.facts { grid-template-columns: 1fr; }
  main { padding: .75rem; }
}
"#;
