// Types of a Strata function's ctx: what `export default async function (ctx) { … }`
// receives. Functions cannot import anything: everything they may use is on ctx.
// Use it in an editor of your own: save it next to your function and write
//   export default async function (ctx: Ctx) { … }
// The admin UI reads this file for its ctx completions: keep one member a line.

/** Any JSON value. */
type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** A row of a table, as the REST API shows it. */
type Row = { [column: string]: Json };

/** The REST query language, as an object: filter, fields, sort, limit, offset, page, search, deep, aggregate. */
type Query = { [param: string]: Json };

/** The ctx argument of a function. */
interface Ctx {
  /** The HTTP request an endpoint function answers (null for hooks and schedules). */
  request: Request | null;
  /** The write a hook watches (null for endpoints and schedules). */
  event: HookEvent | null;
  /** The caller: {id, role}, or null when nobody is signed in (schedules, anonymous calls). */
  user: User | null;
  /** The tenant the function belongs to. */
  tenant: Tenant;
  /** The input of a test run from the admin UI (POST /functions/{id}/run); undefined in other runs. */
  input?: Json;
  /** The tenant's secrets, by name (PUT /functions/secrets/{name}). */
  env: { [name: string]: string };
  /** Keeps a log line with the run (arguments joined by spaces, objects as JSON). */
  log(...args: unknown[]): void;
  /** Keeps a warning with the run. */
  warn(...args: unknown[]): void;
  /** Keeps an error line with the run. */
  error(...args: unknown[]): void;
  /** A table's rows, read and written as the function's role (run_as), hooks included. */
  items(table: string): Items;
  /** An HTTP request to a host in the tenant's functions_fetch_hosts (public addresses only, within the run's time, bodies up to 5 MB). */
  fetch(url: string, init?: FetchInit): Promise<FetchResponse>;
  /** The tenant's files, as the function's role (the strata_files rules decide). */
  files: Files;
  /** An endpoint's exact answer: return ctx.response(201, {...}, {'X-Header': 'v'}). */
  response(status: number, body?: Json, headers?: { [name: string]: string }): EndpointResponse;
  /** Refuses with this status, code and message (a before hook's refusal of the write). */
  reject(status: number, code: string, message?: string): never;
}

/** An endpoint's request. Authorization and Cookie headers are not passed on: the caller is ctx.user. */
interface Request {
  /** GET, POST, PATCH, PUT or DELETE. */
  method: string;
  /** The path after /fn/. */
  path: string;
  /** The :parameters of the function's path, by name. */
  params: { [name: string]: string };
  /** The query string, by name. */
  query: { [name: string]: string };
  /** The request headers, names in lower case. */
  headers: { [name: string]: string };
  /** The body: parsed JSON for application/json, else the text. */
  body: Json;
}

/** The write a hook runs for. */
interface HookEvent {
  /** The table written. */
  table: string;
  /** create, update or delete. */
  event: 'create' | 'update' | 'delete';
  /** The ids of the rows written. */
  keys: string[];
  /** The values written; a before hook's changes to it are what gets written. */
  payload: Row | null;
  /** The rows as they were, in keys order (update and delete), or null (create). */
  previous: Row[] | null;
}

/** A signed-in caller. */
interface User {
  /** The user's id. */
  id: string;
  /** The role's id, or null for the default role. */
  role: string | null;
}

/** The tenant a function belongs to. */
interface Tenant {
  /** The tenant's id. */
  id: string;
  /** The tenant's slug, as in /api/t/{slug}. */
  slug: string;
}

/** ctx.items(table): the REST API's operations on one table. */
interface Items {
  /** Rows matching a query (the REST query language). */
  readMany(query?: Query): Promise<Row[]>;
  /** One row by id. */
  readOne(id: string, query?: Query): Promise<Row>;
  /** Creates a row and answers it. */
  createOne(data: Row): Promise<Row>;
  /** Changes a row and answers it. */
  updateOne(id: string, data: Row): Promise<Row>;
  /** Deletes a row. */
  deleteOne(id: string): Promise<void>;
}

/** ctx.files: the tenant's files. */
interface Files {
  /** File rows matching a query (the REST query language). */
  readMany(query?: Query): Promise<Row[]>;
  /** One file's row by id. */
  readOne(id: string, query?: Query): Promise<Row>;
  /** A file's bytes as text (up to 4 MB; not in a before hook). */
  text(id: string): Promise<string>;
  /** A file's bytes as base64 (up to 4 MB; not in a before hook). */
  base64(id: string): Promise<string>;
  /** Stores a file (up to 8 MB; not in a before hook) and answers its row. */
  upload(file: FileUpload): Promise<Row>;
  /** Deletes a file and its bytes. */
  deleteOne(id: string): Promise<void>;
}

/** What ctx.files.upload takes. */
interface FileUpload {
  /** The file's name (its extension may be kept). */
  filename: string;
  /** The bytes: text, or base64 with encoding 'base64'. */
  content: string;
  /** 'utf8' (the default) or 'base64'. */
  encoding?: 'utf8' | 'base64';
  /** The file row's fields: title, description, folder, tags, … */
  fields?: Row;
}

/** The options of ctx.fetch. */
interface FetchInit {
  /** GET unless given. */
  method?: string;
  /** Request headers. */
  headers?: { [name: string]: string };
  /** A string is sent as it is, anything else as JSON. */
  body?: Json;
}

/** What ctx.fetch answers. */
interface FetchResponse {
  /** The HTTP status. */
  status: number;
  /** Whether the status is 2xx. */
  ok: boolean;
  /** The URL answered. */
  url: string;
  /** The response headers. */
  headers: FetchHeaders;
  /** The body as text. */
  text(): Promise<string>;
  /** The body parsed as JSON. */
  json(): Promise<Json>;
}

/** The headers of a fetch response. */
interface FetchHeaders {
  /** A header's value by name (any case), or null. */
  get(name: string): string | null;
}

/** What ctx.response makes; return it from an endpoint. */
interface EndpointResponse {
  /** The HTTP status. */
  status: number;
  /** A string goes out as text/plain, anything else as JSON. */
  body: Json;
  /** Response headers. */
  headers?: { [name: string]: string };
}
