// fleet dashboard: the room's live page. No framework, no build step, nothing from outside
// (rooms are often offline). It loads the room once from the event stream (/events: a
// snapshot first, then only what changed, each event's id the last stored record it covers,
// so a reconnect asks for exactly what it missed) and one host in depth from /api/host/NAME.
//
// Every value that comes from the hosts (names, step titles, output, errors) goes into the
// page as text: textContent, append(string), setAttribute. Never as markup.

const STATES = ['pending', 'connecting', 'running', 'ok', 'failed', 'unreachable']
const FINAL = new Set(['ok', 'failed', 'unreachable'])
const STATE_HELP = {
  pending: 'waiting for its turn',
  connecting: 'being reached, its agent being started',
  running: 'its agent is running the playbook',
  ok: 'every step done',
  failed: 'a step failed: the lab needs a look',
  unreachable: 'not reached (switched off, no network, wrong key): not a broken lab',
}
const CONSOLE_NODES = 4000

const token = new URLSearchParams(location.search).get('token') ?? ''
const search = token ? `?token=${encodeURIComponent(token)}` : ''
const hostPage = hostOfPath(location.pathname)

/** What the page knows of the room; `id` is the last stored record it has seen. */
const room = {
  loaded: false,
  id: 0,
  figures: /** @type {Record<string, any>} */ ({}),
  order: /** @type {string[]} */ ([]),
  hosts: new Map(),
  /** name → performance.now() when its row arrived (elapsed counts on from there) */
  hostAt: new Map(),
  /** name → {agent_run, cells, at} */
  steps: new Map(),
  columns: /** @type {Array<{step: string, idx: number, title: string, phase: string | null}>} */ ([]),
  columnsKey: '',
}

/** The open host: its name, what /api/host said, and its console. */
const detail = {
  name: /** @type {string | null} */ (null),
  data: /** @type {any} */ (null),
  missing: false,
  consoleId: 0,
  loading: false,
  pending: /** @type {any[]} */ ([]),
  refreshTimer: 0,
  lastRefresh: 0,
}

let connects = 0
let snapshots = 0
let source = /** @type {EventSource | null} */ (null)

// ---- small helpers ----

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id))

/** An element with attributes (all set as attributes or text, never parsed) and children (strings become text). */
function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    if (k === 'class') e.className = String(v)
    else if (k === 'text') e.textContent = String(v)
    else e.setAttribute(k, String(v))
  }
  e.append(...kids.filter((k) => k !== null && k !== undefined))
  return e
}

function hostOfPath(path) {
  const m = /^\/host\/([^/]+)$/.exec(path)
  if (!m) return null
  try {
    return decodeURIComponent(m[1])
  } catch {
    return null
  }
}

/** A cell's time, short: 9s, 3:04, 1h02. */
function short(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return ''
  s = Math.max(0, Math.round(s))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}`
}

/** As `fleet status` says it: 12s, 3m04s, 1h02m. */
function long(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return ''
  s = Math.max(0, Math.round(s))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

function fold(hosts, shown = 2) {
  const head = hosts.slice(0, shown).join(', ')
  return hosts.length > shown ? `${head} +${hosts.length - shown}` : head
}

/** A host's ETA as the report has it: `~3m20s`, `?` while unknown, nothing once done or when the report has none. */
function etaText(h) {
  if (!h || !('eta_s' in h)) return ''
  if (typeof h.eta_s === 'number') return `~${long(h.eta_s)}`
  return FINAL.has(h.state) ? '' : '?'
}

function elapsedOf(name) {
  const h = room.hosts.get(name)
  if (!h || h.elapsed_s === null || h.elapsed_s === undefined) return null
  if (FINAL.has(h.state)) return h.elapsed_s
  return h.elapsed_s + (performance.now() - (room.hostAt.get(name) ?? performance.now())) / 1000
}

/** A host's cells, when they are of the run its row names (a host given a new run shows none until its plan arrives). */
function cellsOf(name) {
  const s = room.steps.get(name)
  const h = room.hosts.get(name)
  if (!s || !h || s.agent_run !== h.agent_run) return []
  return s.cells
}

/** Seconds a cell shows: its duration, or how long it has run so far. */
function cellSeconds(c, at) {
  if (c.status === 'running' && c.running_ms !== null) return (c.running_ms + (performance.now() - at)) / 1000
  return c.duration_ms === null ? null : c.duration_ms / 1000
}

async function api(path) {
  const r = await fetch(path, {headers: token ? {Authorization: `Bearer ${token}`} : {}, cache: 'no-store'})
  if (r.status === 404) return undefined
  if (!r.ok) throw new Error(`${path}: ${r.status}`)
  return r.json()
}

// ---- the stream ----

function setConn(state, text) {
  document.body.dataset.conn = state
  $('conn').textContent = text
}

function connect() {
  const q = new URLSearchParams()
  if (token) q.set('token', token)
  // A stream made anew (the browser gave up on the old one) says where the page is; the
  // browser's own reconnects send Last-Event-ID, which the server prefers.
  if (room.loaded) q.set('last_event_id', String(room.id))
  const es = new EventSource(`/events?${q}`)
  source = es
  es.addEventListener('open', () => {
    connects++
    document.body.dataset.connects = String(connects)
    setConn('live', 'live')
  })
  es.addEventListener('error', () => {
    if (es.readyState === EventSource.CLOSED) {
      setConn('offline', 'offline: retrying…')
      if (source === es) setTimeout(connect, 3000)
    } else setConn('reconnecting', 'reconnecting…')
  })
  es.addEventListener('snapshot', (e) => {
    snapshots++
    document.body.dataset.snapshots = String(snapshots)
    applySnapshot(JSON.parse(e.data))
    seen(e.lastEventId)
    // A snapshot after the first (the page was away too long to catch up record by record):
    // the open host's console starts again from the store.
    if (snapshots > 1 && detail.name) {
      const name = detail.name
      detail.name = null
      openDetail(name, false)
    }
  })
  es.addEventListener('update', (e) => {
    applyUpdate(JSON.parse(e.data))
    seen(e.lastEventId)
  })
}

function seen(id) {
  room.id = Number(id) || room.id
  document.body.dataset.eventId = String(room.id)
}

function applySnapshot(s) {
  const {hosts, ...figures} = s.report
  room.figures = figures
  room.order = hosts.map((h) => h.name)
  room.hosts = new Map(hosts.map((h) => [h.name, h]))
  const now = performance.now()
  room.hostAt = new Map(hosts.map((h) => [h.name, now]))
  room.steps = new Map(Object.entries(s.steps).map(([name, v]) => [name, {...v, at: now}]))
  room.loaded = true
  renderAll()
}

function applyUpdate(u) {
  const now = performance.now()
  const dirty = new Set()
  let rebuild = false
  if (u.room) room.figures = u.room
  for (const h of u.hosts ?? []) {
    if (!room.hosts.has(h.name)) {
      room.order.push(h.name)
      rebuild = true
    }
    room.hosts.set(h.name, h)
    room.hostAt.set(h.name, now)
    dirty.add(h.name)
  }
  for (const [name, v] of Object.entries(u.steps ?? {})) {
    room.steps.set(name, {...v, at: now})
    dirty.add(name)
  }
  if (computeColumns() || rebuild) renderGrid()
  else for (const name of dirty) renderRow(name)
  if (u.room || u.hosts) renderHeader()
  if (u.room) renderGroups()
  for (const o of u.output ?? []) if (o.host === detail.name) consoleAdd(o)
  if (detail.name && (dirty.has(detail.name) || (u.output ?? []).some((o) => o.host === detail.name))) {
    renderDetail()
    refreshDetailSoon(dirty.has(detail.name) ? 300 : 1500)
  }
}

// ---- the room: header, grid, error groups ----

function renderAll() {
  computeColumns()
  renderHeader()
  renderGrid()
  renderGroups()
  if (detail.name) renderDetail()
}

function renderHeader() {
  const counts = room.figures.counts ?? {}
  const states = [...STATES, ...Object.keys(counts).filter((s) => !STATES.includes(s))]
  $('counts').replaceChildren(...states.map((s) => el('span', {class: `count c-${s}${counts[s] ? '' : ' zero'}`, 'data-state': s, title: STATE_HELP[s] ?? s}, el('b', {text: counts[s] ?? 0}), ` ${s}`)))
  const total = room.order.length
  const open = (counts.pending ?? 0) + (counts.connecting ?? 0) + (counts.running ?? 0)
  let eta = ''
  if ('room_eta_s' in room.figures && open > 0) eta = typeof room.figures.room_eta_s === 'number' ? `room ready in ~${long(room.figures.room_eta_s)}` : 'room ready in: unknown yet'
  else if (total && open === 0) eta = counts.ok === total ? 'the room is ready' : 'the run is over'
  $('room-eta').textContent = eta
  document.title = `fleet: ${counts.ok ?? 0}/${total} ok${counts.failed ? `, ${counts.failed} failed` : ''}${counts.unreachable ? `, ${counts.unreachable} unreachable` : ''}`
}

/** The grid's columns: every step of the hosts' current runs, in plan order. True when they changed. */
function computeColumns() {
  const byStep = new Map()
  for (const name of room.order) {
    for (const c of cellsOf(name)) {
      const known = byStep.get(c.step)
      if (!known || c.idx < known.idx) byStep.set(c.step, {step: c.step, idx: c.idx, title: c.title, phase: c.phase})
    }
  }
  const cols = [...byStep.values()].sort((a, b) => a.idx - b.idx)
  const key = JSON.stringify(cols)
  if (key === room.columnsKey) return false
  room.columns = cols
  room.columnsKey = key
  return true
}

function renderGrid() {
  const cols = room.columns
  room.phaseStarts = new Set(cols.filter((c, i) => i > 0 && cols[i - 1].phase !== c.phase).map((c) => c.step))
  const phases = []
  for (const c of cols) {
    const last = phases[phases.length - 1]
    if (last && last.phase === c.phase) last.span++
    else phases.push({phase: c.phase, span: 1})
  }
  const head = el(
    'thead',
    {},
    el('tr', {class: 'phases'}, el('th', {colspan: 3}), ...phases.map((p, i) => el('th', {colspan: p.span, class: `phase ${i % 2 ? 'odd' : 'even'}`, title: p.phase ?? '', text: p.phase ?? ''}))),
    el(
      'tr',
      {class: 'steps'},
      el('th', {class: 'c-host', text: `host (${room.order.length})`}),
      el('th', {class: 'c-state', text: 'state'}),
      el('th', {class: 'c-eta', text: 'ETA'}),
      ...cols.map((c) => el('th', {class: `c-step${phaseStart(c) ? ' phase-start' : ''}`, 'data-step': c.step, title: `${c.idx}. ${c.title} (${c.step})${c.phase ? `, phase ${c.phase}` : ''}`, text: c.idx})),
    ),
  )
  // Measured before the rows go in, applied after: measuring a grid of 1,000 hosts × 40 steps
  // would lay out every cell once more (most of a first paint).
  const top = $('grid-wrap').getBoundingClientRect().top + scrollY
  const body = el('tbody', {}, ...room.order.map(rowOf))
  $('grid').replaceChildren(head, body)
  layout(top)
}

function phaseStart(c) {
  return room.phaseStarts?.has(c.step) ?? false
}

function rowOf(name) {
  const h = room.hosts.get(name) ?? {state: 'pending'}
  const s = room.steps.get(name)
  const cells = new Map(cellsOf(name).map((c) => [c.step, c]))
  const tr = el(
    'tr',
    {class: `r-${h.state}${name === detail.name ? ' selected' : ''}`, 'data-host': name, 'data-state': h.state},
    el('th', {class: 'c-host'}, el('button', {type: 'button', class: 'host-link', title: [h.address, h.step, h.error].filter(Boolean).join(' · '), text: name})),
    el('td', {class: 'c-state'}, el('span', {class: `badge b-${h.state}`, title: STATE_HELP[h.state] ?? '', text: h.state})),
    el('td', {class: 'c-eta', text: etaText(h)}),
    ...room.columns.map((col) => {
      const c = cells.get(col.step)
      if (!c) return el('td', {class: `cell s-none${phaseStart(col) ? ' phase-start' : ''}`, 'data-step': col.step, 'data-state': ''})
      const secs = cellSeconds(c, s.at)
      // No title here: it is set when the pointer comes (cellTitle), not built for 40,000 cells.
      const td = el('td', {
        class: `cell s-${c.status}${phaseStart(col) ? ' phase-start' : ''}`,
        'data-step': c.step,
        'data-state': c.status,
        text: c.status === 'pending' ? '' : short(secs),
      })
      if (c.status === 'running') {
        td.dataset.runningMs = String(c.running_ms ?? 0)
        td.dataset.at = String(s.at)
      }
      return td
    }),
  )
  tr.querySelector('.host-link').addEventListener('click', () => openDetail(name))
  return tr
}

/** A cell's tooltip, made when the pointer is on it. */
function cellTitle(td) {
  const name = td.closest('tr')?.dataset.host
  const c = name === undefined ? undefined : cellsOf(name).find((x) => x.step === td.dataset.step)
  if (!c) return
  const secs = cellSeconds(c, room.steps.get(name).at)
  td.title = `${name} · ${c.idx}. ${c.title} (${c.step}): ${c.status}${c.attempts > 1 ? `, ${c.attempts} attempts` : ''}${secs !== null ? `, ${long(secs)}` : ''}`
}

function renderRow(name) {
  const old = document.querySelector(`#grid tbody tr[data-host="${CSS.escape(name)}"]`)
  if (old) old.replaceWith(rowOf(name))
  else renderGrid()
}

function renderGroups() {
  const groups = Array.isArray(room.figures.error_groups) ? room.figures.error_groups : []
  $('no-errors').hidden = groups.length > 0
  $('groups').replaceChildren(
    ...groups.slice(0, 12).map((g) => {
      const hosts = Array.isArray(g.hosts) ? g.hosts : []
      const count = g.count ?? hosts.length
      const li = el(
        'li',
        {class: `group g-${g.state ?? 'failed'}`, title: g.signature ?? ''},
        el('div', {class: 'g-head'}, el('b', {text: `${count} host${count === 1 ? '' : 's'}`}), g.state === 'unreachable' ? el('span', {class: 'g-step', text: 'unreachable'}) : g.step ? el('span', {class: 'g-step', text: g.step}) : null),
        el('div', {class: 'g-line', text: g.error ?? g.signature ?? ''}),
        ...(Array.isArray(g.detail) ? g.detail.slice(0, 2).map((d) => el('div', {class: 'g-detail', text: d})) : []),
        el('div', {class: 'g-hosts', text: typeof g.label === 'string' && g.label ? g.label : fold(hosts)}),
      )
      if (hosts[0]) li.addEventListener('click', () => openDetail(hosts[0]))
      return li
    }),
    ...(groups.length > 12 ? [el('li', {class: 'more', text: `and ${groups.length - 12} more`})] : []),
  )
}

/** Sizes from the room's shape: 60 hosts × 45 steps fit a 1920×1080 projector; a few hosts get big rows. */
/** The grid's two header rows (phases, step numbers), as app.css draws them. */
const HEAD_H = 44

function layout(measuredTop) {
  const root = document.documentElement.style
  const n = Math.max(1, room.order.length)
  const m = Math.max(1, room.columns.length)
  const wide = innerWidth >= 1100
  const top = typeof measuredTop === 'number' ? measuredTop : $('grid-wrap').getBoundingClientRect().top + scrollY
  const headH = HEAD_H
  const rowH = Math.max(16, Math.min(48, Math.floor((innerHeight - top - headH - 12) / n)))
  const hostFont = Math.max(13, Math.min(30, Math.round(rowH * 0.72)))
  const longest = Math.max(6, ...room.order.map((s) => s.length))
  const hostW = Math.min(360, Math.max(90, Math.round(longest * hostFont * 0.6) + 18))
  const stateW = Math.round(Math.max(11, hostFont * 0.62) * 7.2)
  const etaW = Math.round(Math.max(11, hostFont * 0.62) * 6)
  const sideW = wide ? Math.max(280, Math.min(440, Math.round(innerWidth * 0.17))) : 0
  const cellW = Math.max(20, Math.min(84, Math.floor((innerWidth - sideW - hostW - stateW - etaW - 48) / m)))
  root.setProperty('--row-h', `${rowH}px`)
  root.setProperty('--host-font', `${hostFont}px`)
  root.setProperty('--host-w', `${hostW}px`)
  root.setProperty('--state-w', `${stateW}px`)
  root.setProperty('--eta-w', `${etaW}px`)
  root.setProperty('--cell-w', `${cellW}px`)
  root.setProperty('--cell-font', `${Math.max(9, Math.min(18, Math.floor(Math.min(cellW / 3, rowH * 0.66))))}px`)
  root.setProperty('--badge-font', `${Math.max(9, Math.min(20, Math.floor(rowH * 0.6)))}px`)
  root.setProperty('--side-w', `${sideW}px`)
}

/** Once a second: running cells and the open host's elapsed time count on. */
function tick() {
  for (const td of document.querySelectorAll('#grid td.s-running')) {
    const secs = (Number(td.dataset.runningMs) + performance.now() - Number(td.dataset.at)) / 1000
    td.textContent = short(secs)
  }
  for (const li of document.querySelectorAll('#d-steps li.s-running .t')) {
    const secs = (Number(li.dataset.runningMs) + performance.now() - Number(li.dataset.at)) / 1000
    li.textContent = long(secs)
  }
  if (detail.name) renderMeta()
}

// ---- one host in depth ----

function openDetail(name, push = true) {
  if (detail.name !== name) {
    detail.name = name
    detail.data = null
    detail.missing = false
    detail.consoleId = 0
    detail.pending = []
    $('d-console').replaceChildren()
    $('d-tail').replaceChildren()
    loadDetail(true)
  }
  if (push && !hostPage && hostOfPath(location.pathname) !== name) history.pushState({host: name}, '', `/host/${encodeURIComponent(name)}${search}`)
  document.body.classList.add('detail-open')
  $('detail').hidden = false
  for (const tr of document.querySelectorAll('#grid tr.selected')) tr.classList.remove('selected')
  document.querySelector(`#grid tbody tr[data-host="${CSS.escape(name)}"]`)?.classList.add('selected')
  renderDetail()
}

function closeDetail(push = true) {
  if (hostPage) {
    location.href = `/${search}`
    return
  }
  detail.name = null
  detail.data = null
  $('detail').hidden = true
  document.body.classList.remove('detail-open')
  for (const tr of document.querySelectorAll('#grid tr.selected')) tr.classList.remove('selected')
  if (push && hostOfPath(location.pathname)) history.pushState({}, '', `/${search}`)
}

async function loadDetail(first) {
  const name = detail.name
  if (!name) return
  if (first) detail.loading = true
  detail.lastRefresh = performance.now()
  try {
    const d = await api(`/api/host/${encodeURIComponent(name)}`)
    if (detail.name !== name) return
    detail.missing = d === undefined
    if (d) detail.data = d
    if (first) {
      // The console up to d.id, then what the stream brought meanwhile, after it.
      detail.consoleId = d ? d.id : 0
      for (const o of d?.console ?? []) consoleAppend(o)
      const waiting = detail.pending
      detail.pending = []
      detail.loading = false
      for (const o of waiting) consoleAdd(o)
    }
    renderDetail()
  } catch (e) {
    if (first) detail.loading = false
    $('d-meta').textContent = `could not load this host: ${e.message}`
  }
}

function refreshDetailSoon(ms) {
  if (detail.refreshTimer) return
  const wait = Math.max(ms, 1000 - (performance.now() - detail.lastRefresh))
  detail.refreshTimer = setTimeout(() => {
    detail.refreshTimer = 0
    loadDetail(false)
  }, wait)
}

/** A live output record for the open host: kept while the console's first load is on its way, dropped if the console has it. */
function consoleAdd(o) {
  if (detail.loading) detail.pending.push(o)
  else if (o.id > detail.consoleId) consoleAppend(o)
}

function consoleAppend(o) {
  const pre = $('d-console')
  const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4
  pre.append(o.stream === 'stderr' ? el('span', {class: 'stderr', text: o.data}) : document.createTextNode(o.data))
  detail.consoleId = Math.max(detail.consoleId, o.id)
  while (pre.childNodes.length > CONSOLE_NODES) pre.firstChild.remove()
  if (atEnd) pre.scrollTop = pre.scrollHeight
}

function renderMeta() {
  const h = room.hosts.get(detail.name)
  if (!h) {
    $('d-meta').textContent = detail.missing ? 'no host by this name in the room' : room.loaded ? 'not in the room (yet)' : 'loading…'
    return
  }
  const eta = etaText(h)
  const secs = elapsedOf(detail.name)
  const time = secs === null ? '' : FINAL.has(h.state) ? `took ${long(secs)}` : `for ${long(secs)}`
  $('d-meta').textContent = [h.address, h.step, time, eta ? `ETA ${eta}` : ''].filter(Boolean).join(' · ')
}

function renderDetail() {
  const name = detail.name
  if (!name) return
  const h = room.hosts.get(name)
  $('d-name').textContent = name
  const badge = $('d-state')
  badge.className = `badge b-${h?.state ?? 'none'}`
  badge.textContent = h?.state ?? '?'
  badge.title = STATE_HELP[h?.state] ?? ''
  $('detail').dataset.state = h?.state ?? ''
  renderMeta()
  $('d-error').textContent = h?.error ?? ''
  $('d-error').hidden = !h?.error
  const s = room.steps.get(name)
  const cells = cellsOf(name)
  $('d-steps').replaceChildren(
    ...cells.map((c) => {
      const secs = cellSeconds(c, s.at)
      const t = el('span', {class: 't', text: c.status === 'pending' ? '' : long(secs)})
      if (c.status === 'running') {
        t.dataset.runningMs = String(c.running_ms ?? 0)
        t.dataset.at = String(s.at)
      }
      return el(
        'li',
        {class: `s-${c.status}`, 'data-step': c.step, 'data-state': c.status},
        el('span', {class: 'idx', text: c.idx}),
        el('span', {class: 'title', text: c.title, title: `${c.title} (${c.step})`}),
        el('span', {class: 'st', text: c.status + (c.attempts > 1 ? ` ×${c.attempts}` : '')}),
        t,
      )
    }),
  )
  const tail = detail.data?.log_tail
  $('d-tail-title').textContent = tail ? `${tail.status === 'failed' ? 'Failed' : 'Running'}: ${tail.title} (${tail.step}), ${tail.lines.length === 1 ? 'its last line' : `last ${tail.lines.length} lines`}` : 'Log'
  const text = tail ? tail.lines.join('\n') : 'No failing or running step.'
  const pre = $('d-tail')
  if (pre.textContent !== text) {
    pre.textContent = text
    pre.scrollTop = pre.scrollHeight // the last lines say most
  }
}

// ---- start ----

function start() {
  if (hostPage) document.body.classList.add('host-page')
  $('home').setAttribute('href', `/${search}`)
  $('d-close').addEventListener('click', () => closeDetail())
  addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && detail.name && !hostPage) closeDetail()
  })
  addEventListener('popstate', () => {
    const name = hostOfPath(location.pathname)
    if (name) openDetail(name, false)
    else if (detail.name) closeDetail(false)
  })
  addEventListener('resize', () => layout())
  $('grid').addEventListener('mouseover', (e) => {
    const td = e.target instanceof Element ? e.target.closest('td.cell') : null
    if (td) cellTitle(td)
  })
  setInterval(tick, 1000)
  if (hostPage) openDetail(hostPage, false)
  connect()
}

start()
