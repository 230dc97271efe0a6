// Fields of a table as the data screens edit them: its columns, and its relation fields
// (to-one keys pick one row of the target; to-many fields pick several).

const numeric = ['integer', 'bigint', 'float', 'decimal', 'percent', 'currency'];

// relationFields lists table's relation fields from its definition: {name, target,
// many} — to-one fields are columns too, to-many fields are not.
export function relationFields(def) {
  const out = [];
  for (const r of def?.relations || []) {
    if (r.table === def.name) {
      const many = r.type === 'one_to_many' || r.type === 'many_to_many';
      out.push({ name: r.name, target: r.target, many });
    }
    if (r.target === def.name && r.inverse) {
      // The inverse of a one_to_many is a key column here; of the others, a list (the
      // keys are on the other side).
      out.push({ name: r.inverse, target: r.table, many: r.type !== 'one_to_many' });
    }
  }
  return out;
}

// inputType is the HTML input type of a column.
export function inputType(type) {
  if (numeric.includes(type)) return 'number';
  return { date: 'date', datetime: 'datetime-local', time: 'time', email: 'email', url: 'url', phone: 'tel' }[type] || 'text';
}

const pad = (n) => String(n).padStart(2, '0');

// toInput turns a value from the API into what the field's input edits.
export function toInput(field, v) {
  if (field.many) return Array.isArray(v) ? v.map((x) => (typeof x === 'object' ? x.id : x)) : [];
  if (v === null || v === undefined) return field.type === 'multi_enum' ? [] : '';
  switch (field.type) {
    case 'boolean': return String(v);
    case 'json': return JSON.stringify(v, null, 2);
    case 'multi_enum': return Array.isArray(v) ? v : [];
    case 'datetime': {
      // The input edits local time without a zone.
      const d = new Date(v);
      if (Number.isNaN(d.getTime())) return String(v);
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    }
    case 'date': return String(v).slice(0, 10);
    default: return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
}

// fromInput turns an input's value into the JSON value the API takes; it throws a
// FieldError for text that is not valid for the type.
export function fromInput(field, v) {
  if (field.many || field.type === 'multi_enum') return Array.isArray(v) ? v : [];
  if (v === '' || v === undefined || v === null) return null;
  switch (field.type) {
    case 'boolean': return v === true || v === 'true';
    case 'json':
      try {
        return JSON.parse(v);
      } catch (e) {
        throw new FieldError(field.name, `not valid JSON: ${e.message}`);
      }
    case 'datetime': {
      const d = new Date(v);
      if (Number.isNaN(d.getTime())) throw new FieldError(field.name, 'not a valid date and time');
      return d.toISOString();
    }
    default:
      if (numeric.includes(field.type) && field.type !== 'decimal') {
        const n = Number(v);
        if (!Number.isFinite(n)) throw new FieldError(field.name, 'not a number');
        return n;
      }
      return v;
  }
}

// FieldError is a value refused before it is sent, named by its field.
export class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

// show renders a value in a grid cell.
export function show(field, v) {
  if (v === null || v === undefined) return '';
  if (field?.many) return `${v.length} linked`;
  // Dates in the reader's locale; a date alone is a calendar day, not shifted by zone.
  if (field?.type === 'datetime' && typeof v === 'string' && !Number.isNaN(Date.parse(v))) return new Date(v).toLocaleString();
  if (field?.type === 'date' && typeof v === 'string' && /^\d{4}-\d{2}-\d{2}/.test(v)) {
    const [y, m, d] = v.slice(0, 10).split('-').map(Number);
    return new Date(y, m - 1, d).toLocaleDateString();
  }
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

// systemColumn reports whether a grid hides column c until asked: the key and the
// bookkeeping columns every table has (a relation's key column is a user field).
export const systemColumn = (c) => !!c.system && !c.relation;

// templateFields lists the fields a display template ("{{name}} ({{year}})") names.
export const templateFields = (tpl) => [...(tpl || '').matchAll(/\{\{\s*([^{}]*?)\s*\}\}/g)].map((m) => m[1]);

// displayLabel is how a row reads where another row points at it: its table's display
// template filled in, else its first text field, else its id.
export function displayLabel(tpl, fallback, row) {
  const text = tpl ? tpl.replace(/\{\{\s*([^{}]*?)\s*\}\}/g, (_, f) => (row[f] ?? '') + '').trim() : fallback && row[fallback] ? `${row[fallback]}` : '';
  return text || row.id;
}
