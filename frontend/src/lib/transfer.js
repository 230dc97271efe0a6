// Moving a table's rows in and out as files: an import posted with its progress read
// as server-sent events (EventSource cannot POST, so fetch reads the stream), and an
// export's download address.
import { request, session, ApiError } from './api.js';

// fresh makes sure the session's access token is current before a request made
// outside request() (a long upload, a download link): request refreshes an expired one.
async function fresh(tenant) {
  await request('GET', `/api/t/${tenant}/permissions/me`).catch(() => {});
  return session()?.access || '';
}

// formatOf is a file's format by its type or name: csv, json or ''.
export function formatOf(file) {
  if (file.type === 'text/csv' || /\.csv$/i.test(file.name)) return 'csv';
  if (file.type === 'application/json' || /\.json$/i.test(file.name)) return 'json';
  return '';
}

// importFile posts a CSV or JSON file to POST /utils/import/{table} and calls
// onprogress with each progress event ({rows, imported, failed, bytes, total_bytes}).
// It answers the result's data ({imported, failed?, errors?}); a refusal is thrown as an
// ApiError whose details.rows lists every bad row the answer named ({row, field,
// message}).
export async function importFile(tenant, table, file, partial, onprogress) {
  const format = formatOf(file);
  if (!format) throw new Error('Choose a .csv or .json file.');
  const q = new URLSearchParams({ format });
  if (partial) q.set('partial', 'true');
  const r = await fetch(`/api/t/${tenant}/utils/import/${encodeURIComponent(table)}?${q}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${await fresh(tenant)}`, 'Content-Type': format === 'csv' ? 'text/csv' : 'application/json', Accept: 'text/event-stream' },
    body: file,
  });
  if (!(r.headers.get('Content-Type') || '').startsWith('text/event-stream')) {
    throw refused(r.status, await r.json().catch(() => ({})));
  }
  let result = null;
  await readEvents(r.body, (event, data) => {
    if (event === 'progress') onprogress?.(data);
    else if (event === 'result') result = data.data;
    else if (event === 'error') throw refused(400, data);
  });
  if (!result) throw new Error('The import ended before its result: try again.');
  return result;
}

// refused is an error answer with the bad rows it names.
function refused(status, body) {
  const err = new ApiError(status, body);
  err.rows = (body?.errors || []).filter((e) => e.extensions?.row)
    .map((e) => ({ row: e.extensions.row, field: e.extensions.field, message: e.message.replace(/^row \d+: /, '') }));
  return err;
}

// readEvents reads a stream of server-sent events, calling each with an event's name
// and its data parsed as JSON.
export async function readEvents(stream, each) {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (data) each(event, JSON.parse(data));
    }
    if (done) return;
  }
}

// exportURL is the download address of a table's rows in format, with the grid's
// filter and sort: the browser saves it as it streams, whatever its size.
export async function exportURL(tenant, table, format, filter, sort) {
  const q = new URLSearchParams({ format, access_token: await fresh(tenant) });
  if (filter) q.set('filter', filter);
  if (sort) q.set('sort', sort);
  return `/api/t/${tenant}/utils/export/${encodeURIComponent(table)}?${q}`;
}
