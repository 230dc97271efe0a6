// The source editor of the Functions screen: CodeMirror 6 with TypeScript highlighting,
// completion of ctx's members (read from strata.d.ts), and the server's refusal of the
// source shown at its line. Loaded on demand, so other screens do not carry it.
import { EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection, Decoration } from '@codemirror/view';
import { EditorState, StateEffect, StateField } from '@codemirror/state';
import { javascript } from '@codemirror/lang-javascript';
import { syntaxHighlighting, HighlightStyle, bracketMatching, indentOnInput } from '@codemirror/language';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from '@codemirror/autocomplete';
import { setDiagnostics, lintGutter } from '@codemirror/lint';
import { tags as t } from '@lezer/highlight';
import dts from './strata.d.ts?raw';

// Colours that keep 4.5:1 on the editor's white (WCAG AA).
const highlight = HighlightStyle.define([
  { tag: [t.keyword, t.bool, t.null, t.self], color: '#7a1fa2' },
  { tag: [t.string, t.special(t.string), t.regexp], color: '#a31515' },
  { tag: [t.number], color: '#116644' },
  { tag: [t.comment], color: '#5d6678', fontStyle: 'italic' },
  { tag: [t.typeName, t.className, t.namespace], color: '#166c3b' },
  { tag: [t.propertyName], color: '#0b5394' },
  { tag: [t.function(t.variableName), t.function(t.propertyName)], color: '#1f4fa8' },
  { tag: [t.definition(t.variableName)], color: '#1d2330', fontWeight: '600' },
  { tag: t.invalid, color: '#c93a2f', textDecoration: 'underline' },
]);

const theme = EditorView.theme({
  '&': { border: '1px solid var(--line)', borderRadius: '6px', background: '#fff', fontSize: '.9rem' },
  '&.cm-focused': { outline: '2px solid var(--accent)', outlineOffset: '2px' },
  '.cm-scroller': { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace', minHeight: '14rem', maxHeight: '32rem' },
  '.cm-gutters': { background: '#f3f4f7', color: 'var(--muted)', borderRight: '1px solid var(--line)' },
  '.cm-activeLineGutter': { background: '#e6ebf5', color: 'var(--text)' },
  '.cm-errorLine': { background: '#fdecea' },
});

// members reads the interfaces of strata.d.ts: per interface, its members with their
// doc comment, and the interface a member leads to (a property's type, a method's
// result), for completions after `ctx.`, `ctx.request.`, `ctx.items('t').` and so on.
export function members(source = dts) {
  const types = {};
  for (const [, name, body] of source.matchAll(/interface (\w+) \{([\s\S]*?)\n\}/g)) {
    const list = [];
    let doc = '';
    for (const line of body.split('\n')) {
      const comment = /^\s*\/\*\*\s*(.*?)\s*\*\/\s*$/.exec(line);
      if (comment) {
        doc = comment[1];
        continue;
      }
      const m = /^\s*(\w+)(\?)?(\(.*\))?\s*:\s*(.+?);\s*$/.exec(line);
      if (!m) continue;
      const [, label, , args, type] = m;
      list.push({ label, type: args ? 'method' : 'property', detail: args ? `${args}: ${type}` : type, info: doc, next: /^(\w+)/.exec(type)?.[1] });
      doc = '';
    }
    types[name] = list;
  }
  return types;
}

const types = members();

// ctxCompletions completes the member after a path from ctx: `ctx.ite` offers items,
// `ctx.items('posts').r` the reads, `ctx.request?.` the request's fields.
export function ctxCompletions(context) {
  const before = context.state.sliceDoc(context.state.doc.lineAt(context.pos).from, context.pos);
  const m = /\bctx((?:\??\.\w+(?:\([^()]*\))?)*)\??\.(\w*)$/.exec(before);
  if (!m) return null;
  let type = 'Ctx';
  for (const [, name] of m[1].matchAll(/\.(\w+)/g)) {
    type = types[type]?.find((x) => x.label === name)?.next;
    if (!type) return null;
  }
  const options = types[type];
  if (!options) return null;
  return { from: context.pos - m[2].length, options: options.map(({ label, type, detail, info }) => ({ label, type, detail, info })), validFor: /^\w*$/ };
}

// The line the server refused, marked until the next verdict.
const markLines = StateEffect.define();
const errorLines = StateField.define({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = deco.map(tr.changes);
    for (const e of tr.effects) if (e.is(markLines)) deco = Decoration.set(e.value.map((from) => Decoration.line({ class: 'cm-errorLine' }).range(from)));
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

// create makes an editor in parent. labelledBy names the element labelling it (the
// content is a textbox to assistive technology); onchange hears every edit.
export function create(parent, { doc, labelledBy, describedBy, onchange }) {
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightActiveLine(),
        drawSelection(),
        history(),
        indentOnInput(),
        bracketMatching(),
        closeBrackets(),
        javascript({ typescript: true }),
        syntaxHighlighting(highlight),
        EditorState.languageData.of(() => [{ autocomplete: ctxCompletions }]),
        autocompletion(),
        lintGutter(),
        errorLines,
        // Tab indents; Escape then Tab leaves the editor (CodeMirror's own rule).
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, ...completionKeymap, indentWithTab]),
        EditorView.contentAttributes.of({ 'aria-labelledby': labelledBy, ...(describedBy ? { 'aria-describedby': describedBy } : {}) }),
        EditorView.updateListener.of((u) => u.docChanged && onchange?.(u.state.doc.toString())),
        theme,
      ],
    }),
  });
  return {
    view,
    // set replaces the text (a template for another kind, the function as loaded).
    set(text) {
      if (text !== view.state.doc.toString()) view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    // refuse shows the server's verdict on the source: [{line, column, message}]
    // (1-based), underlined from the column to the end of its word, the line marked.
    refuse(list) {
      const doc = view.state.doc;
      const found = list.filter((d) => d.line >= 1 && d.line <= doc.lines).map((d) => {
        const line = doc.line(d.line);
        const from = Math.min(line.from + Math.max(0, (d.column || 1) - 1), line.to);
        const word = /^\w+|^\S/.exec(doc.sliceString(from, line.to))?.[0] || '';
        return { from, to: from + word.length, severity: 'error', message: d.message, line: line.from };
      });
      view.dispatch(setDiagnostics(view.state, found), { effects: markLines.of(found.map((d) => d.line)) });
    },
    // focusAt puts the cursor at a line and column and the editor in focus.
    focusAt(lineNo, column = 1) {
      const doc = view.state.doc;
      const line = doc.line(Math.max(1, Math.min(lineNo, doc.lines)));
      const pos = Math.min(line.from + column - 1, line.to);
      view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
      view.focus();
    },
    destroy: () => view.destroy(),
  };
}

export { dts };
