// Herald consumer portal. Talks only to the JSON API, with the app-scoped
// token from the link's fragment. Everything from the API is rendered as
// text: Preact escapes text children, and nothing here writes raw markup.
import { html, render, useState, useEffect, useRef, useCallback } from './vendor/htm-preact-standalone.mjs';

// ---------- boot: token, app, look ----------

const TOKEN_KEY = 'herald.portal.token';
const APP_KEY = 'herald.portal.app';
const THEME_KEY = 'herald.portal.theme';
const API = new URL('../api/v1/', location.href);
const params = new URLSearchParams(location.search);
const body = document.body.dataset;

(function takeToken() {
  const frag = new URLSearchParams(location.hash.slice(1));
  const token = frag.get('token') || frag.get('key');
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    if (frag.get('app')) sessionStorage.setItem(APP_KEY, frag.get('app'));
    else sessionStorage.removeItem(APP_KEY);
    // No secret stays in the address bar, the history or a bookmark.
    const next = params.get('next');
    const route = next && /^\/[A-Za-z0-9_\-/.]*$/.test(next) ? next : '/endpoints';
    history.replaceState(null, '', location.pathname + location.search + '#' + route);
  }
})();

const token = sessionStorage.getItem(TOKEN_KEY);
const hexColor = (c) => (c && /^#?[0-9a-fA-F]{6}$/.test(c) ? (c[0] === '#' ? c : '#' + c) : null);
const truthy = (v) => v === 'true' || v === '1' || v === '';
const look = {
  name: params.get('platformName') || body.platformName || 'Webhooks',
  logo: params.get('icon') || body.logo || '',
  light: hexColor(params.get('primaryColorLight')) || hexColor(params.get('primaryColor')) || hexColor(body.primaryColor) || '#2457d6',
  dark: hexColor(params.get('primaryColorDark')) || '#6d9eff',
  font: params.get('fontFamily') || '',
  hideNav: params.has('hideNavigation') && truthy(params.get('hideNavigation')),
};
if (!/^(https?:\/\/|data:image\/)/.test(look.logo)) look.logo = '';

// Relative luminance and contrast (WCAG 2.x), so any platform colour keeps
// text on buttons and links readable (AA: 4.5:1).
function lum(hex) {
  const v = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
}
const contrast = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };

function applyTheme(mode) {
  const root = document.documentElement;
  const dark = mode === 'dark';
  root.dataset.theme = mode;
  const primary = dark ? look.dark : look.light;
  const surface = dark ? '#161b22' : '#ffffff';
  const text = dark ? '#e6edf3' : '#1b1f24';
  root.style.setProperty('--primary', primary);
  root.style.setProperty('--on-primary', contrast(primary, '#ffffff') >= contrast(primary, '#0d1117') ? '#ffffff' : '#0d1117');
  root.style.setProperty('--link', contrast(primary, surface) >= 4.5 ? primary : (dark ? '#8fb4ff' : '#1f4fbf'));
  root.style.setProperty('--focus', contrast(primary, surface) >= 3 ? primary : text);
  if (look.font && /^[A-Za-z0-9 ,'"-]{1,100}$/.test(look.font)) root.style.setProperty('--font', look.font + ', system-ui, sans-serif');
}
function initialTheme() {
  if (params.has('darkMode')) return truthy(params.get('darkMode')) ? 'dark' : 'light';
  const saved = sessionStorage.getItem(THEME_KEY);
  if (saved === 'dark' || saved === 'light') return saved;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

// ---------- API ----------

class ApiError extends Error {
  constructor(status, data) {
    super(typeof data?.detail === 'string' ? data.detail : 'Request failed (' + status + ')');
    this.status = status;
    this.data = data;
  }
  // fields maps a 422's field paths ("url", "headers") to its messages.
  fields() {
    const out = {};
    if (this.status === 422 && Array.isArray(this.data?.detail)) {
      for (const d of this.data.detail) {
        const loc = (d.loc || []).filter((x) => x !== 'body');
        const key = loc.length ? String(loc[0]) : '_';
        out[key] = out[key] ? out[key] + '; ' + d.msg : d.msg;
      }
    }
    return out;
  }
  summary() {
    if (this.status === 403) return 'Your link does not allow this.';
    if (this.status === 422) return 'Please correct the fields marked below.';
    if (this.status === 429) return 'Too many requests; try again in a moment.';
    return this.message;
  }
}

let onExpired = () => {};
async function api(method, path, payload) {
  const headers = { Authorization: 'Bearer ' + token, Accept: 'application/json' };
  if (payload !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(new URL(path, API), {
    method, headers, body: payload === undefined ? undefined : JSON.stringify(payload),
    cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
  });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (r.status === 401) { onExpired(); throw new ApiError(401, data); }
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}
const enc = encodeURIComponent;
const qs = (o) => { const p = new URLSearchParams(); for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null && v !== '') p.set(k, v); const s = p.toString(); return s ? '?' + s : ''; };

// ---------- session and capabilities ----------

const ALL_CAPS = ['ViewBase', 'ViewEndpointSecret', 'ManageEndpointSecret', 'ManageTransformations', 'CreateAttempts', 'ManageEndpoint'];

// loadSession asks the API who the token is. Where /auth/session does not
// exist (older nodes), it uses the app from the link and finds out whether
// the token is read-only with a write that cannot change anything: a PATCH
// of an endpoint that does not exist answers 403 to a read-only token
// (checked before the lookup) and 404 to any other.
async function loadSession() {
  try {
    const s = await api('GET', 'auth/session');
    // The list is what the token may do; readOnly only says it can change nothing.
    const caps = s.capabilities?.length ? s.capabilities : (s.readOnly ? ['ViewBase'] : ALL_CAPS);
    return { appId: s.appId, readOnly: !!s.readOnly, caps: new Set(caps), expiresAt: s.expiresAt };
  } catch (e) {
    if (e.status !== 404 && e.status !== 405) throw e;
  }
  const appId = sessionStorage.getItem(APP_KEY);
  if (!appId) throw new ApiError(401, null);
  await api('GET', 'app/' + enc(appId) + '/endpoint?limit=1'); // 401 when expired
  let readOnly = false;
  try { await api('PATCH', 'app/' + enc(appId) + '/endpoint/ep_portal-probe', {}); } catch (e) { readOnly = e.status === 403; }
  return { appId, readOnly, caps: new Set(readOnly ? ['ViewBase'] : ALL_CAPS) };
}

// What a session may do with secrets, as the API decides it (server/
// capabilities.go): managing endpoints includes their secrets, and
// rotating one includes reading it.
const canRotate = (s) => s.caps.has('ManageEndpointSecret') || s.caps.has('ManageEndpoint');
const canViewSecret = (s) => s.caps.has('ViewEndpointSecret') || canRotate(s);

// ---------- small helpers ----------

const fmtTime = (t) => (t ? new Date(t).toLocaleString() : '');
const statusName = { 0: 'Succeeded', 1: 'Pending', 2: 'Failed', 3: 'Sending', 4: 'Canceled' };
const statusClass = { 0: 'ok', 1: 'pending', 2: 'fail', 3: 'pending', 4: 'muted' };
const pretty = (v) => { try { return JSON.stringify(typeof v === 'string' ? JSON.parse(v) : v, null, 2); } catch { return String(v); } };
const useRoute = () => {
  const [route, setRoute] = useState(location.hash.slice(1) || '/endpoints');
  useEffect(() => { const f = () => setRoute(location.hash.slice(1) || '/endpoints'); addEventListener('hashchange', f); return () => removeEventListener('hashchange', f); }, []);
  return route;
};
const go = (path) => { location.hash = '#' + path; };

// mapLimited maps items through fn, at most n calls in flight, so a page
// about many endpoints stays under the token's rate limit.
async function mapLimited(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => { while (next < items.length) { const i = next++; out[i] = await fn(items[i]); } };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

// usePoll runs fn now and then every ms while active, never overlapping.
function usePoll(fn, ms, active, deps) {
  useEffect(() => {
    if (!active) return undefined;
    let stop = false, timer;
    const tick = async () => { try { await fn(); } catch { /* shown by fn */ } if (!stop) timer = setTimeout(tick, ms); };
    tick();
    return () => { stop = true; clearTimeout(timer); };
  }, [active, ...deps]);
}

function Badge({ status }) {
  return html`<span class=${'badge ' + (statusClass[status] || 'muted')}>${statusName[status] ?? status}</span>`;
}
function Notice({ error, ok }) {
  if (error) return html`<p class="notice error" role="alert">${error instanceof ApiError ? error.summary() : String(error.message || error)}</p>`;
  if (ok) return html`<p class="notice ok" role="status">${ok}</p>`;
  return null;
}
function FieldError({ id, msg }) {
  return msg ? html`<p class="field-error" id=${id}>${msg}</p>` : null;
}
function Empty({ children }) { return html`<p class="empty">${children}</p>`; }

// ---------- expired link ----------

function Expired() {
  return html`<section class="expired" aria-labelledby="exph">
    <h1 id="exph">This link has expired</h1>
    <p>For your security, portal links only work for a limited time, and can be revoked.</p>
    <p>Ask ${look.name} for a new one.</p>
  </section>`;
}

// ---------- endpoints list ----------

function successRate(st) {
  const done = (st?.success || 0) + (st?.fail || 0);
  return done ? Math.round((100 * st.success) / done) + '%' : '—';
}

function EndpointList({ s }) {
  const [eps, setEps] = useState(null);
  const [stats, setStats] = useState({});
  const [err, setErr] = useState(null);
  useEffect(() => {
    api('GET', 'app/' + enc(s.appId) + '/endpoint?limit=250').then(async (r) => {
      setEps(r.data);
      const since = new Date(Date.now() - 7 * 864e5).toISOString();
      const entries = await mapLimited(r.data, 4, (ep) => api('GET', 'app/' + enc(s.appId) + '/endpoint/' + enc(ep.id) + '/stats' + qs({ since })).then((st) => [ep.id, st], () => [ep.id, null]));
      setStats(Object.fromEntries(entries));
    }, setErr);
  }, []);
  const canManage = s.caps.has('ManageEndpoint');
  return html`<section aria-labelledby="eph">
    <div class="row between"><h1 id="eph">Endpoints</h1>
      ${canManage && html`<a class="button primary" href="#/endpoints/new">Add endpoint</a>`}</div>
    <${Notice} error=${err} />
    ${eps === null ? html`<p class="muted">Loading…</p>` : eps.length === 0 ? html`<${Empty}>No endpoints yet. ${canManage ? 'Add one to start receiving webhooks.' : ''}</${Empty}>` : html`
    <ul class="cards" aria-label="Endpoints">${eps.map((ep) => html`<li class="card endpoint-card">
      <a class="ep-url" href=${'#/endpoints/' + ep.id}>${ep.url}</a>
      ${ep.description && html`<p class="muted">${ep.description}</p>`}
      <div class="meta">
        <span class=${'badge ' + (ep.disabled ? 'fail' : 'ok')}>${ep.disabled ? 'Disabled' : 'Enabled'}</span>
        <span>${ep.filterTypes?.length ? ep.filterTypes.join(', ') : 'All event types'}</span>
        <span title="Deliveries that succeeded over the last 7 days">Success (7 d): <strong class="rate">${stats[ep.id] ? successRate(stats[ep.id]) : '…'}</strong></span>
      </div>
    </li>`)}</ul>`}
  </section>`;
}

// ---------- endpoint form ----------

function EventTypePicker({ types, selected, onChange, describedBy }) {
  const [q, setQ] = useState('');
  if (types === null) return html`<p class="muted">Loading event types…</p>`;
  if (!types.length) return html`<p class="muted">No event types are registered; the endpoint will receive every event.</p>`;
  const shown = types.filter((t) => !q || t.name.includes(q) || (t.description || '').toLowerCase().includes(q.toLowerCase()));
  const toggle = (name) => onChange(selected.includes(name) ? selected.filter((x) => x !== name) : [...selected, name]);
  return html`<fieldset class="picker" aria-describedby=${describedBy}>
    <legend>Event types</legend>
    <p class="hint">None selected means every event type.</p>
    <label class="sr-only" for="et-search">Search event types</label>
    <input id="et-search" type="search" placeholder="Search event types" value=${q} onInput=${(e) => setQ(e.target.value)} />
    <ul class="et-list">${shown.map((t) => html`<li>
      <label class="check"><input type="checkbox" name="eventType" value=${t.name} checked=${selected.includes(t.name)} onChange=${() => toggle(t.name)} />
        <span><code>${t.name}</code>${t.description && html` <span class="muted">— ${t.description}</span>`}</span></label>
      ${t.schemas && Object.keys(t.schemas).length > 0 && html`<details class="schema"><summary>Example</summary><pre>${pretty(exampleOf(t))}</pre></details>`}
    </li>`)}</ul>
  </fieldset>`;
}
function exampleOf(t) {
  const versions = Object.keys(t.schemas || {}).sort((a, b) => Number(b) - Number(a));
  const s = versions.length ? t.schemas[versions[0]] : null;
  return s?.examples?.[0] ?? s ?? {};
}

function useEventTypes() {
  const [types, setTypes] = useState(null);
  useEffect(() => { api('GET', 'event-type?limit=250&with_content=true').then((r) => setTypes(r.data.filter((t) => !t.archived)), () => setTypes([])); }, []);
  return types;
}

function EndpointForm({ s, id }) {
  const types = useEventTypes();
  const editing = !!id;
  const [f, setF] = useState({ url: '', description: '', filterTypes: [], channels: '', throttleRate: '', headers: [], auth: 'none', user: '', pass: '', bearer: '' });
  const [orig, setOrig] = useState(null);
  const [errs, setErrs] = useState({});
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const base = 'app/' + enc(s.appId) + '/endpoint';
  useEffect(() => {
    if (!editing) return;
    Promise.all([api('GET', base + '/' + enc(id)), api('GET', base + '/' + enc(id) + '/headers')]).then(([ep, h]) => {
      const hasAuth = (h.sensitive || []).some((n) => n.toLowerCase() === 'authorization');
      setOrig({ ep, h, hasAuth });
      setF({ url: ep.url, description: ep.description || '', filterTypes: ep.filterTypes || [], channels: (ep.channels || []).join(', '),
        throttleRate: ep.throttleRate ?? '', headers: Object.entries(h.headers || {}).map(([k, v]) => ({ k, v })), auth: hasAuth ? 'keep' : 'none', user: '', pass: '', bearer: '' });
    }, setErr);
  }, [id]);
  // Editing a field clears what was said about it.
  const clear = (k) => { if (errs[k]) { const { [k]: _, ...rest } = errs; setErrs(rest); if (!Object.keys(rest).length) setErr(null); } };
  const set = (k) => (e) => { clear(k === 'user' || k === 'pass' || k === 'bearer' ? 'auth' : k); setF({ ...f, [k]: e.target.value }); };
  const setHeader = (i, k) => (e) => { clear('headers'); const hs = f.headers.slice(); hs[i] = { ...hs[i], [k]: e.target.value }; setF({ ...f, headers: hs }); };

  async function submit(e) {
    e.preventDefault();
    setErrs({}); setErr(null); setBusy(true);
    const headers = {};
    for (const { k, v } of f.headers) if (k.trim()) headers[k.trim()] = v;
    if (f.auth === 'basic') headers.Authorization = 'Basic ' + btoa(unescape(encodeURIComponent(f.user + ':' + f.pass)));
    if (f.auth === 'bearer') headers.Authorization = 'Bearer ' + f.bearer;
    const local = {};
    if (f.auth === 'basic' && !f.user) local.auth = 'Enter a username.';
    if (f.auth === 'bearer' && !f.bearer) local.auth = 'Enter a token.';
    if (f.throttleRate !== '' && !(Number(f.throttleRate) >= 1 && Number(f.throttleRate) <= 65535 && Number.isInteger(Number(f.throttleRate)))) local.throttleRate = 'Enter a whole number of requests per second from 1 to 65535, or leave it empty.';
    if (Object.keys(local).length) { setErrs(local); setBusy(false); return; }
    const ep = {
      url: f.url.trim(), description: f.description, filterTypes: f.filterTypes.length ? f.filterTypes : null,
      channels: f.channels.split(',').map((c) => c.trim()).filter(Boolean), throttleRate: f.throttleRate === '' ? null : Number(f.throttleRate),
    };
    if (!ep.channels.length) ep.channels = null;
    try {
      if (!editing) {
        const out = await api('POST', base, { ...ep, headers });
        go('/endpoints/' + out.id);
      } else {
        await api('PUT', base + '/' + enc(id), { ...ep, disabled: orig.ep.disabled });
        const del = Object.keys(orig.h.headers || {}).filter((k) => !(k in headers));
        if (f.auth === 'none' && orig.hasAuth) del.push('Authorization');
        await api('PATCH', base + '/' + enc(id) + '/headers', { headers, deleteHeaders: del });
        go('/endpoints/' + id);
      }
    } catch (x) {
      if (x instanceof ApiError) setErrs(x.fields());
      setErr(x);
    } finally { setBusy(false); }
  }
  const desc = (k) => (errs[k] ? 'err-' + k : undefined);
  return html`<section aria-labelledby="formh">
    <p><a href=${editing ? '#/endpoints/' + id : '#/endpoints'}>← Back</a></p>
    <h1 id="formh">${editing ? 'Edit endpoint' : 'Add endpoint'}</h1>
    <form class="form" onSubmit=${submit} novalidate>
      <${Notice} error=${err} />
      <div class="field"><label for="f-url">Endpoint URL</label>
        <input id="f-url" name="url" type="url" required placeholder="https://example.com/webhooks" value=${f.url} onInput=${set('url')} aria-invalid=${!!errs.url} aria-describedby=${desc('url')} />
        <${FieldError} id="err-url" msg=${errs.url} /></div>
      <div class="field"><label for="f-desc">Description</label>
        <input id="f-desc" name="description" value=${f.description} onInput=${set('description')} aria-describedby=${desc('description')} />
        <${FieldError} id="err-description" msg=${errs.description} /></div>
      <${EventTypePicker} types=${types} selected=${f.filterTypes} onChange=${(v) => setF({ ...f, filterTypes: v })} describedBy=${desc('filterTypes')} />
      <${FieldError} id="err-filterTypes" msg=${errs.filterTypes} />
      <details class="advanced" open=${editing}>
        <summary>Advanced: channels, rate limit, headers, authentication</summary>
        <div class="field"><label for="f-channels">Channels</label>
          <input id="f-channels" name="channels" placeholder="e.g. project-1, eu" value=${f.channels} onInput=${set('channels')} aria-describedby=${'hint-channels ' + (desc('channels') || '')} />
          <p class="hint" id="hint-channels">Comma separated. Empty means messages on any channel.</p>
          <${FieldError} id="err-channels" msg=${errs.channels} /></div>
        <div class="field"><label for="f-rate">Rate limit (requests per second)</label>
          <input id="f-rate" name="throttleRate" type="number" min="1" max="65535" inputmode="numeric" value=${f.throttleRate} onInput=${set('throttleRate')} aria-describedby=${desc('throttleRate')} />
          <${FieldError} id="err-throttleRate" msg=${errs.throttleRate || errs.rateLimit} /></div>
        <fieldset class="headers"><legend>Custom headers</legend>
          ${f.headers.map((h, i) => html`<div class="header-row">
            <label class="sr-only" for=${'hk' + i}>Header name ${i + 1}</label>
            <input id=${'hk' + i} placeholder="X-Header-Name" value=${h.k} onInput=${setHeader(i, 'k')} />
            <label class="sr-only" for=${'hv' + i}>Header value ${i + 1}</label>
            <input id=${'hv' + i} placeholder="value" value=${h.v} onInput=${setHeader(i, 'v')} />
            <button type="button" class="ghost" onClick=${() => setF({ ...f, headers: f.headers.filter((_, j) => j !== i) })} aria-label=${'Remove header ' + (h.k || i + 1)}>Remove</button>
          </div>`)}
          <button type="button" onClick=${() => setF({ ...f, headers: [...f.headers, { k: '', v: '' }] })}>Add header</button>
          <${FieldError} id="err-headers" msg=${errs.headers} />
        </fieldset>
        <fieldset class="auth"><legend>Authentication to your endpoint</legend>
          <p class="hint">Sent as the Authorization header of every request; stored sealed and never shown again.</p>
          <div class="radios">
            ${orig?.hasAuth && html`<label class="check"><input type="radio" name="auth" value="keep" checked=${f.auth === 'keep'} onChange=${set('auth')} /> Keep current</label>`}
            <label class="check"><input type="radio" name="auth" value="none" checked=${f.auth === 'none'} onChange=${set('auth')} /> None</label>
            <label class="check"><input type="radio" name="auth" value="basic" checked=${f.auth === 'basic'} onChange=${set('auth')} /> Basic</label>
            <label class="check"><input type="radio" name="auth" value="bearer" checked=${f.auth === 'bearer'} onChange=${set('auth')} /> Bearer token</label>
          </div>
          ${f.auth === 'basic' && html`<div class="grid2">
            <div class="field"><label for="f-user">Username</label><input id="f-user" autocomplete="off" value=${f.user} onInput=${set('user')} /></div>
            <div class="field"><label for="f-pass">Password</label><input id="f-pass" type="password" autocomplete="new-password" value=${f.pass} onInput=${set('pass')} /></div></div>`}
          ${f.auth === 'bearer' && html`<div class="field"><label for="f-bearer">Token</label><input id="f-bearer" type="password" autocomplete="off" value=${f.bearer} onInput=${set('bearer')} /></div>`}
          <${FieldError} id="err-auth" msg=${errs.auth} />
        </fieldset>
      </details>
      <div class="row"><button class="primary" type="submit" disabled=${busy}>${editing ? 'Save changes' : 'Create endpoint'}</button>
        <a class="button ghost" href=${editing ? '#/endpoints/' + id : '#/endpoints'}>Cancel</a></div>
    </form>
  </section>`;
}

// ---------- endpoint detail ----------

function StatsChart({ day, week }) {
  const rows = [['Last 24 hours', day], ['Last 7 days', week]];
  const summary = rows.map(([l, st]) => l + ': ' + (st ? st.success + ' succeeded, ' + st.fail + ' failed, ' + (st.pending + st.sending) + ' pending' : 'loading')).join('. ');
  return html`<figure class="chart" role="img" aria-label=${summary}>
    ${rows.map(([label, st]) => {
      const total = st ? st.success + st.fail + st.pending + st.sending : 0;
      const w = (n) => (total ? (n / total) * 300 : 0);
      return html`<div class="bar-row">
        <div class="bar-label"><span>${label}</span><span class="muted">${st ? total + ' message' + (total === 1 ? '' : 's') : '…'}</span></div>
        <svg viewBox="0 0 300 16" preserveAspectRatio="none" class="bar" aria-hidden="true" focusable="false">
          <rect x="0" y="0" width="300" height="16" class="bar-bg" />
          ${st && total > 0 && html`<rect x="0" y="0" width=${w(st.success)} height="16" class="bar-ok" />
            <rect x=${w(st.success)} y="0" width=${w(st.fail)} height="16" class="bar-fail" />
            <rect x=${w(st.success) + w(st.fail)} y="0" width=${w(st.pending + st.sending)} height="16" class="bar-pending" />`}
        </svg>
      </div>`;
    })}
    <figcaption class="legend">
      <span><i class="sw ok"></i>Succeeded ${day ? day.success : ''}${week ? ' / ' + week.success : ''}</span>
      <span><i class="sw fail"></i>Failed ${day ? day.fail : ''}${week ? ' / ' + week.fail : ''}</span>
      <span><i class="sw pending"></i>Pending ${day ? day.pending + day.sending : ''}${week ? ' / ' + (week.pending + week.sending) : ''}</span>
      <span class="muted">(24 h / 7 d)</span>
    </figcaption>
  </figure>`;
}

function SecretPanel({ s, ep }) {
  const [secret, setSecret] = useState(null);
  const [shown, setShown] = useState(false);
  const [msg, setMsg] = useState(null);
  const [err, setErr] = useState(null);
  const [confirm, setConfirm] = useState(false);
  const path = 'app/' + enc(s.appId) + '/endpoint/' + enc(ep.id) + '/secret';
  const fetchSecret = async () => { const r = await api('GET', path); setSecret(r.key); return r.key; };
  if (!canViewSecret(s)) return null;
  const reveal = async () => { setErr(null); try { if (!secret) await fetchSecret(); setShown(!shown); } catch (x) { setErr(x); } };
  const copy = async () => {
    setErr(null);
    try { const k = secret || await fetchSecret(); await navigator.clipboard.writeText(k); setMsg('Secret copied.'); } catch (x) { setErr(x instanceof ApiError ? x : new Error('Copy failed; reveal the secret and copy it by hand.')); }
  };
  const rotate = async () => {
    setErr(null); setConfirm(false);
    try { await api('POST', path + '/rotate', {}); const k = await fetchSecret(); setShown(true); setMsg('Secret rotated. The previous secret keeps signing for a grace period.'); return k; } catch (x) { setErr(x); }
  };
  return html`<section class="card" aria-labelledby="sech">
    <h2 id="sech">Signing secret</h2>
    <p class="hint">Use it to verify that requests come from ${look.name}.</p>
    <div class="secret-row"><code class=${'secret' + (shown && secret ? '' : ' masked')} data-testid="secret">${shown && secret ? secret : 'whsec_' + '•'.repeat(24)}</code>
      <button type="button" onClick=${reveal} aria-pressed=${shown}>${shown ? 'Hide' : 'Reveal'}</button>
      <button type="button" onClick=${copy}>Copy</button>
      ${canRotate(s) && !confirm && html`<button type="button" class="danger-ghost" onClick=${() => setConfirm(true)}>Rotate…</button>`}
    </div>
    ${confirm && html`<div class="confirm" role="group" aria-label="Confirm rotation"><p>Rotate the secret? Update your verifier with the new one.</p>
      <button type="button" class="danger" onClick=${rotate}>Rotate secret</button> <button type="button" class="ghost" onClick=${() => setConfirm(false)}>Cancel</button></div>`}
    <${Notice} error=${err} ok=${msg} />
  </section>`;
}

function TestSend({ s, ep, onDone }) {
  const types = useEventTypes();
  const [type, setType] = useState('');
  const [sent, setSent] = useState(null);
  const [attempt, setAttempt] = useState(null);
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const choices = types ? (ep.filterTypes?.length ? types.filter((t) => ep.filterTypes.includes(t.name)) : types) : [];
  useEffect(() => { if (!type && choices.length) setType(choices[0].name); }, [types]);
  usePoll(async () => {
    const r = await api('GET', 'app/' + enc(s.appId) + '/attempt/msg/' + enc(sent.id) + qs({ endpoint_id: ep.id, limit: 1 }));
    if (r.data.length) { setAttempt(r.data[0]); onDone?.(); }
  }, 1000, !!sent && !attempt, [sent?.id]);
  if (!s.caps.has('CreateAttempts')) return null;
  const send = async (e) => {
    e.preventDefault(); setErr(null); setAttempt(null); setBusy(true);
    try { setSent(await api('POST', 'app/' + enc(s.appId) + '/endpoint/' + enc(ep.id) + '/send-example', { eventType: type || 'svix.ping' })); } catch (x) { setErr(x); } finally { setBusy(false); }
  };
  return html`<section class="card" aria-labelledby="testh">
    <h2 id="testh">Send a test event</h2>
    <form class="row wrap" onSubmit=${send}>
      <label for="test-type">Event type</label>
      <select id="test-type" value=${type} onChange=${(e) => setType(e.target.value)}>
        ${choices.length === 0 && html`<option value="">svix.ping</option>`}
        ${choices.map((t) => html`<option value=${t.name}>${t.name}</option>`)}
      </select>
      <button class="primary" type="submit" disabled=${busy}>Send example</button>
    </form>
    <${Notice} error=${err} />
    ${sent && html`<div class="test-result" aria-live="polite">
      <p>Sent message <code>${sent.id}</code>. ${attempt ? '' : 'Waiting for the attempt…'}</p>
      ${attempt && html`<dl class="kv">
        <dt>Outcome</dt><dd><${Badge} status=${attempt.status} /> <span data-testid="test-status">HTTP ${attempt.responseStatusCode || '—'}</span></dd>
        <dt>Duration</dt><dd>${attempt.responseDurationMs} ms</dd>
        ${attempt.error && html`<dt>Error</dt><dd>${attempt.error}</dd>`}
        <dt>Response body</dt><dd><pre class="body" data-testid="test-response">${attempt.response}</pre></dd>
      </dl>
      <p><a href=${'#/messages/' + sent.id}>Open in the logs</a></p>`}
    </div>`}
  </section>`;
}

function Recover({ s, ep }) {
  // datetime-local takes local time; toISOString gives UTC, hence the offset.
  const [since, setSince] = useState(new Date(Date.now() - 864e5 - new Date().getTimezoneOffset() * 6e4).toISOString().slice(0, 16));
  const [msg, setMsg] = useState(null);
  const [err, setErr] = useState(null);
  if (!s.caps.has('CreateAttempts')) return null;
  const run = async (e) => {
    e.preventDefault(); setErr(null); setMsg(null);
    try { await api('POST', 'app/' + enc(s.appId) + '/endpoint/' + enc(ep.id) + '/recover', { since: new Date(since).toISOString() }); setMsg('Failed messages since then are being sent again.'); } catch (x) { setErr(x); }
  };
  return html`<section class="card" aria-labelledby="rech"><h2 id="rech">Recover failed messages</h2>
    <form class="row wrap" onSubmit=${run}>
      <label for="rec-since">Resend everything that failed since</label>
      <input id="rec-since" type="datetime-local" value=${since} onInput=${(e) => setSince(e.target.value)} required />
      <button type="submit">Recover</button>
    </form>
    <${Notice} error=${err} ok=${msg} />
  </section>`;
}

function EndpointDetail({ s, id }) {
  const [ep, setEp] = useState(null);
  const [hdrs, setHdrs] = useState(null);
  const [day, setDay] = useState(null);
  const [week, setWeek] = useState(null);
  const [err, setErr] = useState(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [version, setVersion] = useState(0); // bumped to reload the log
  const base = 'app/' + enc(s.appId) + '/endpoint/' + enc(id);
  const load = useCallback(() => {
    api('GET', base).then(setEp, setErr);
    api('GET', base + '/headers').then(setHdrs, () => {});
    const now = Date.now();
    api('GET', base + '/stats' + qs({ since: new Date(now - 864e5).toISOString() })).then(setDay, () => {});
    api('GET', base + '/stats' + qs({ since: new Date(now - 7 * 864e5).toISOString() })).then(setWeek, () => {});
  }, [id]);
  useEffect(load, [id]);
  if (err && !ep) return html`<${Notice} error=${err} />`;
  if (!ep) return html`<p class="muted">Loading…</p>`;
  const canManage = s.caps.has('ManageEndpoint');
  const toggle = async () => { setErr(null); try { setEp(await api('PATCH', base, { disabled: !ep.disabled })); } catch (x) { setErr(x); } };
  const del = async () => { try { await api('DELETE', base); go('/endpoints'); } catch (x) { setErr(x); } };
  return html`<section aria-labelledby="deth" class="detail">
    <p><a href="#/endpoints">← Endpoints</a></p>
    <div class="row between wrap"><h1 id="deth" class="ep-title">${ep.url}</h1>
      ${canManage && html`<div class="row wrap actions">
        <a class="button" href=${'#/endpoints/' + id + '/edit'}>Edit</a>
        <button type="button" onClick=${toggle}>${ep.disabled ? 'Enable' : 'Disable'}</button>
        ${!confirmDelete ? html`<button type="button" class="danger-ghost" onClick=${() => setConfirmDelete(true)}>Delete…</button>`
          : html`<span role="group" aria-label="Confirm delete"><button type="button" class="danger" onClick=${del}>Delete endpoint</button> <button type="button" class="ghost" onClick=${() => setConfirmDelete(false)}>Cancel</button></span>`}
      </div>`}</div>
    <${Notice} error=${err} />
    <div class="grid">
      <section class="card" aria-labelledby="overh"><h2 id="overh">Overview</h2>
        <dl class="kv">
          <dt>Status</dt><dd><span class=${'badge ' + (ep.disabled ? 'fail' : 'ok')}>${ep.disabled ? 'Disabled' : 'Enabled'}</span></dd>
          ${ep.description && html`<dt>Description</dt><dd>${ep.description}</dd>`}
          <dt>Event types</dt><dd>${ep.filterTypes?.length ? ep.filterTypes.map((t) => html`<code class="chip">${t}</code> `) : 'All'}</dd>
          <dt>Channels</dt><dd>${ep.channels?.length ? ep.channels.join(', ') : 'Any'}</dd>
          <dt>Rate limit</dt><dd>${ep.throttleRate ? ep.throttleRate + ' / s' : 'None'}</dd>
          <dt>Headers</dt><dd>${hdrs ? [...Object.keys(hdrs.headers || {}), ...(hdrs.sensitive || []).map((k) => k + ' (hidden)')].join(', ') || 'None' : '…'}</dd>
          <dt>ID</dt><dd><code>${ep.id}</code></dd>
        </dl>
      </section>
      <section class="card" aria-labelledby="stath"><h2 id="stath">Deliveries</h2><${StatsChart} day=${day} week=${week} /></section>
      <${TestSend} s=${s} ep=${ep} onDone=${() => { load(); setVersion((v) => v + 1); }} />
      <${SecretPanel} s=${s} ep=${ep} />
      <${Recover} s=${s} ep=${ep} />
    </div>
    <${MessageLog} s=${s} endpoint=${ep} version=${version} />
  </section>`;
}

// ---------- logs ----------

const PAGE = 20;

function MessageLog({ s, endpoint, version }) {
  const types = useEventTypes();
  const [eps, setEps] = useState(endpoint ? [endpoint] : null);
  const [flt, setFlt] = useState({ ep: endpoint ? endpoint.id : '', type: '', status: '', after: '', before: '' });
  const [page, setPage] = useState({ rows: null, iterator: null, done: true, acrossEndpoints: false });
  const [cursor, setCursor] = useState([null]); // iterators of the pages seen, for Previous
  const [live, setLive] = useState(false);
  const [err, setErr] = useState(null);
  useEffect(() => { if (!endpoint) api('GET', 'app/' + enc(s.appId) + '/endpoint?limit=250').then((r) => setEps(r.data), setErr); }, []);
  const app = 'app/' + enc(s.appId);
  const dates = () => ({ after: flt.after ? new Date(flt.after).toISOString() : '', before: flt.before ? new Date(flt.before).toISOString() : '' });
  const fetchPage = async (iterator) => {
    const q = { limit: PAGE, iterator, event_types: flt.type, ...dates(), with_content: 'false' };
    if (flt.ep) {
      const r = await api('GET', app + '/endpoint/' + enc(flt.ep) + '/msg' + qs({ ...q, status: flt.status }));
      return { rows: r.data.map((m) => ({ ...m, endpointId: flt.ep })), iterator: r.iterator, done: r.done };
    }
    if (flt.status === '') {
      const r = await api('GET', app + '/msg' + qs(q));
      return { rows: r.data, iterator: r.iterator, done: r.done };
    }
    // A status across every endpoint: the app's deliveries. A filtered
    // page may come back short before the end (the server bounds each
    // scan); a few more calls fill it.
    let rows = [], it = iterator, r;
    for (let calls = 0; calls < 5; calls++) {
      r = await api('GET', app + '/delivery' + qs({ ...q, iterator: it, limit: PAGE - rows.length, status: flt.status }));
      rows = rows.concat(r.data);
      it = r.iterator;
      if (r.done || rows.length >= PAGE) break;
    }
    return { rows, iterator: it, done: r.done, acrossEndpoints: true };
  };
  const load = async (iterator) => { try { setErr(null); setPage(await fetchPage(iterator)); } catch (x) { setErr(x); } };
  useEffect(() => { setCursor([null]); load(null); }, [flt, eps === null, version]);
  usePoll(() => load(cursor[cursor.length - 1]), 2000, live, [flt, cursor.length]);
  const set = (k) => (e) => setFlt({ ...flt, [k]: e.target.value });
  const epName = (id) => (eps || []).find((e) => e.id === id)?.url || id;
  return html`<section class="log" aria-labelledby="logh">
    <div class="row between wrap"><${endpoint ? 'h2' : 'h1'} id="logh">${endpoint ? 'Messages to this endpoint' : 'Logs'}</${endpoint ? 'h2' : 'h1'}>
      <label class="check live"><input type="checkbox" checked=${live} onChange=${(e) => setLive(e.target.checked)} /> Live (updates every 2 s)</label></div>
    <form class="filters" onSubmit=${(e) => e.preventDefault()} aria-label="Filters">
      ${!endpoint && html`<div class="field"><label for="lf-ep">Endpoint</label><select id="lf-ep" value=${flt.ep} onChange=${set('ep')}>
        <option value="">All endpoints</option>${(eps || []).map((ep) => html`<option value=${ep.id}>${ep.url}</option>`)}</select></div>`}
      <div class="field"><label for="lf-type">Event type</label><select id="lf-type" value=${flt.type} onChange=${set('type')}>
        <option value="">All</option>${(types || []).map((t) => html`<option value=${t.name}>${t.name}</option>`)}</select></div>
      <div class="field"><label for="lf-status">Status</label><select id="lf-status" value=${flt.status} onChange=${set('status')}>
        <option value="">Any</option><option value="0">Succeeded</option><option value="2">Failed</option><option value="1">Pending</option></select></div>
      <div class="field"><label for="lf-after">From</label><input id="lf-after" type="datetime-local" value=${flt.after} onChange=${set('after')} /></div>
      <div class="field"><label for="lf-before">Until</label><input id="lf-before" type="datetime-local" value=${flt.before} onChange=${set('before')} /></div>
    </form>
    <${Notice} error=${err} />
    ${page.rows === null ? html`<p class="muted">Loading…</p>` : page.rows.length === 0 ? html`<${Empty}>No messages match.</${Empty}>` : html`
    <div class="table-wrap"><table class="messages">
      <thead><tr><th scope="col">Event type</th><th scope="col">Message</th>${(flt.ep || page.acrossEndpoints) && html`<th scope="col">Status</th>`}${page.acrossEndpoints && html`<th scope="col">Endpoint</th>`}<th scope="col">Time</th></tr></thead>
      <tbody>${page.rows.map((m) => html`<tr>
        <td data-label="Event type"><code>${m.eventType}</code></td>
        <td data-label="Message"><a href=${'#/messages/' + m.id}>${m.id}</a></td>
        ${(flt.ep || page.acrossEndpoints) && html`<td data-label="Status"><${Badge} status=${m.status} /></td>`}
        ${page.acrossEndpoints && html`<td data-label="Endpoint"><span class="truncate">${epName(m.endpointId)}</span></td>`}
        <td data-label="Time"><span>${fmtTime(m.timestamp)}</span></td></tr>`)}</tbody>
    </table></div>`}
    <div class="row pager">
      <button type="button" disabled=${cursor.length < 2} onClick=${() => { const c = cursor.slice(0, -1); setCursor(c); load(c[c.length - 1]); }}>Newer</button>
      <button type="button" disabled=${page.done || !page.iterator} onClick=${() => { setCursor([...cursor, page.iterator]); load(page.iterator); }}>Older</button>
    </div>
  </section>`;
}

// Headers shows recorded headers as text ([name, value] pairs); attempts
// recorded before Herald kept headers have none, and say so.
function Headers({ label, pairs, none, testid }) {
  if (!pairs) return html`<p class="hint" data-testid=${testid}>${none}</p>`;
  return html`<table class="hdrs" data-testid=${testid}><caption class="sr-only">${label}</caption><tbody>${pairs.map(([k, v]) => html`<tr><th scope="row">${k}</th><td>${v}</td></tr>`)}</tbody></table>`;
}

// notRecorded explains an attempt without headers: made before they were
// stored, or (with an error) one that never got as far as a request.
const notRecorded = (a) => 'Not recorded: this attempt was made before headers were stored' + (a.error && !a.responseStatusCode ? ', or sent no request.' : '.');

function MessageDetail({ s, id }) {
  const [msg, setMsg] = useState(null);
  const [dels, setDels] = useState([]);
  const [atts, setAtts] = useState(null);
  const [err, setErr] = useState(null);
  const [note, setNote] = useState(null);
  const app = 'app/' + enc(s.appId);
  useEffect(() => { api('GET', app + '/msg/' + enc(id)).then(setMsg, setErr); }, [id]);
  const pending = dels.some((d) => d.status === 1 || d.status === 3);
  const refresh = async () => {
    const [d, a] = await Promise.all([api('GET', app + '/msg/' + enc(id) + '/endpoint?limit=250'), api('GET', app + '/attempt/msg/' + enc(id) + '?limit=250')]);
    setDels(d.data); setAtts(a.data);
  };
  usePoll(refresh, 2000, true, [id, pending]);
  useEffect(() => { refresh().catch(setErr); }, [id]);
  const resend = async (epId) => {
    setErr(null); setNote(null);
    try { await api('POST', app + '/msg/' + enc(id) + '/endpoint/' + enc(epId) + '/resend', {}); setNote('Resend queued.'); await refresh(); } catch (x) { setErr(x); }
  };
  if (!msg) return err ? html`<${Notice} error=${err} />` : html`<p class="muted">Loading…</p>`;
  const canResend = s.caps.has('CreateAttempts');
  return html`<section aria-labelledby="msgh" class="detail">
    <p><a href="#/logs">← Logs</a></p>
    <h1 id="msgh">Message <code>${msg.id}</code></h1>
    <${Notice} error=${err} ok=${note} />
    <div class="grid">
      <section class="card"><h2>Details</h2><dl class="kv">
        <dt>Event type</dt><dd><code>${msg.eventType}</code></dd>
        <dt>Created</dt><dd>${fmtTime(msg.timestamp)}</dd>
        ${msg.eventId && html`<dt>Event ID</dt><dd><code>${msg.eventId}</code></dd>`}
        ${msg.channels?.length > 0 && html`<dt>Channels</dt><dd>${msg.channels.join(', ')}</dd>`}
        ${msg.destination && html`<dt>Destination</dt><dd><code class="truncate" data-testid="destination">${msg.destination.url}</code></dd>`}
      </dl></section>
      <section class="card"><h2>Payload</h2><pre class="body" data-testid="payload">${pretty(msg.payload)}</pre></section>
    </div>
    <section class="card" aria-labelledby="delh"><h2 id="delh">Endpoints</h2>
      ${dels.length === 0 ? html`<p class="muted">No endpoint or destination received this message.</p>` : html`<ul class="plain">${dels.map((d) => html`<li class="row between wrap">
        <span>${d.oneOff ? html`<span class="truncate" data-testid="oneoff">${d.url}</span> <span class="muted">(one-off destination)</span>` : html`<a href=${'#/endpoints/' + d.id}>${d.url}</a>`} <${Badge} status=${d.status} /> <span class="muted">${d.attempts} attempt${d.attempts === 1 ? '' : 's'}${d.nextAttempt ? ', next ' + fmtTime(d.nextAttempt) : ''}</span></span>
        ${canResend && html`<button type="button" onClick=${() => resend(d.id)} aria-label=${'Resend to ' + d.url}>Resend</button>`}
      </li>`)}</ul>`}
    </section>
    <section aria-labelledby="atth"><h2 id="atth">Attempts</h2>
      ${atts === null ? html`<p class="muted">Loading…</p>` : atts.length === 0 ? html`<p class="muted">No attempts yet.</p>` : html`<ul class="plain attempts">${atts.map((a) => html`<li>
        <details class="attempt card" data-id=${a.id}>
          <summary><${Badge} status=${a.status} /> <span>HTTP ${a.responseStatusCode || '—'}</span> <span class="muted">${a.responseDurationMs} ms · ${fmtTime(a.timestamp)}</span> <span class="truncate muted">${a.url}</span></summary>
          <div class="grid">
            <div><h3>Request</h3>
              <p><code>POST ${a.url}</code></p>
              <h4>Headers</h4>
              <${Headers} label="Request headers" testid="request-headers" pairs=${a.sentHeaders && Object.entries(a.sentHeaders).sort(([x], [y]) => (x < y ? -1 : 1))} none=${notRecorded(a)} />
              ${a.sentHeaders && html`<p class="hint">Credentials are stored as [redacted].</p>`}
              <h4>Body</h4>
              <pre class="body">${pretty(msg.payload)}</pre></div>
            <div><h3>Response</h3>
              <dl class="kv"><dt>Status</dt><dd>${a.responseStatusCode || 'No response'}</dd><dt>Duration</dt><dd>${a.responseDurationMs} ms</dd><dt>Time</dt><dd>${fmtTime(a.timestamp)}</dd>
                ${a.error && html`<dt>Error</dt><dd>${a.error}</dd>`}<dt>Trigger</dt><dd>${a.triggerType === 1 ? 'Manual' : 'Scheduled'}</dd></dl>
              <h4>Headers</h4>
              <${Headers} label="Response headers" testid="response-headers" pairs=${a.responseHeaders} none=${!a.sentHeaders ? notRecorded(a) : !a.responseStatusCode ? 'No response.' : 'None.'} />
              <h4>Body</h4>
              <pre class="body response" data-testid="response">${a.response}</pre>
              <p class="hint">As stored: bodies past the node's limit are truncated.</p></div>
          </div>
        </details></li>`)}</ul>`}
    </section>
  </section>`;
}

// ---------- shell ----------

function App() {
  const route = useRoute();
  const [theme, setTheme] = useState(initialTheme());
  const [s, setS] = useState(null);
  const [expired, setExpired] = useState(!token);
  const [err, setErr] = useState(null);
  onExpired = () => setExpired(true);
  useEffect(() => { applyTheme(theme); }, [theme]);
  useEffect(() => { if (token) loadSession().then(setS, (x) => (x.status === 401 ? setExpired(true) : setErr(x))); }, []);
  const main = useRef(null);
  useEffect(() => { document.title = look.name + ' · Webhooks'; }, []);
  const switchTheme = () => { const t = theme === 'dark' ? 'light' : 'dark'; sessionStorage.setItem(THEME_KEY, t); setTheme(t); };
  let page;
  const parts = route.split('/').filter(Boolean);
  if (expired) page = html`<${Expired} />`;
  else if (err) page = html`<${Notice} error=${err} />`;
  else if (!s) page = html`<p class="muted">Loading…</p>`;
  else if (parts[0] === 'endpoints' && parts[1] === 'new') page = html`<${EndpointForm} s=${s} />`;
  else if (parts[0] === 'endpoints' && parts[1] && parts[2] === 'edit') page = html`<${EndpointForm} s=${s} id=${parts[1]} key=${'edit' + parts[1]} />`;
  else if (parts[0] === 'endpoints' && parts[1]) page = html`<${EndpointDetail} s=${s} id=${parts[1]} key=${parts[1]} />`;
  else if (parts[0] === 'logs' || parts[0] === 'messages' && !parts[1]) page = html`<${MessageLog} s=${s} />`;
  else if (parts[0] === 'messages' && parts[1]) page = html`<${MessageDetail} s=${s} id=${parts[1]} key=${parts[1]} />`;
  else page = html`<${EndpointList} s=${s} />`;
  const nav = (path, label) => html`<a href=${'#' + path} aria-current=${parts[0] === path.slice(1) || (path === '/logs' && parts[0] === 'messages') ? 'page' : undefined}>${label}</a>`;
  return html`<a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); main.current?.focus(); }}>Skip to content</a>
    <header class="top">
      <div class="brand">${look.logo && html`<img src=${look.logo} alt="" class="logo" />`}<span>${look.name}</span></div>
      ${!look.hideNav && !expired && html`<nav aria-label="Main">${nav('/endpoints', 'Endpoints')}${nav('/logs', 'Logs')}</nav>`}
      <button type="button" class="ghost theme" onClick=${switchTheme} aria-label=${'Switch to ' + (theme === 'dark' ? 'light' : 'dark') + ' theme'}>${theme === 'dark' ? '☀' : '☾'}</button>
    </header>
    ${s?.readOnly && !expired && html`<p class="banner" role="note">Read-only access: you can look, but not change anything.</p>`}
    <main id="main" tabindex="-1" ref=${main}>${page}</main>`;
}

applyTheme(initialTheme());
const root = document.getElementById('app');
root.textContent = ''; // the boot placeholder
render(html`<${App} />`, root);
