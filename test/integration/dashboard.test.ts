import {spawn, type ChildProcess} from 'node:child_process'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {connect, createServer, type AddressInfo, type Server, type Socket} from 'node:net'
import {join, resolve} from 'node:path'
import {chromium, type Browser, type Page} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startLocalHosts, type LocalHostSet} from '../../testbed/index.js'
import {FleetStore} from '../../src/store/store.js'
import {tempDir} from '../helpers/agent-cli.js'
import {fleet, FLEET, resetHosts} from '../helpers/fleet-cli.js'
import {writeSyntheticRoom} from '../helpers/synthetic-room.js'

// `fleet dashboard` in a real browser (Debian's chromium, driven by playwright-core) against a
// store written by a real `fleet prepare` of loopback OpenSSH hosts. Nothing is skipped: a
// missing chromium fails here (scripts/setup.sh installs it).

const CHROMIUM = '/usr/bin/chromium'
const SHOTS = resolve('docs/screenshots')
const MARKUP = `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">`
const TITLE_MARKUP = '<img src=x onerror=window.__pwned=3> markup in a title'
const TICKS = 30

// The functions given to page.evaluate run in the page; these stand for its globals here (the
// project's TypeScript lib has no DOM, and these declarations stay in this module).
type El = any // eslint-disable-line @typescript-eslint/no-explicit-any
declare const document: El, window: El, MutationObserver: El, HTMLElement: El, getComputedStyle: El

const PLAYBOOK = `name: dash
vars:
  work: "{{ facts.home }}/work"
phases:
  - id: setup
    title: Set up
    steps:
      - id: prepare-dir
        title: Make the work directory
        run: mkdir -p {{ work }}
      - id: warm-up
        title: Warm up (the slow host takes longer)
        run: if [ -f ~/slow-here ]; then sleep 8; else sleep 1; fi
  - id: lab
    title: The lab
    steps:
      - id: tick
        title: Print a line every 200 ms
        run: for i in $(seq 1 ${TICKS}); do echo "tick $i of ${TICKS}"; sleep 0.2; done
      - id: hostile
        title: "${TITLE_MARKUP}"
        run: |
          echo '${MARKUP}'
          sleep 1
      - id: maybe-fail
        title: Fail where the host asks for it
        run: |
          if [ -f ~/fail-here ]; then
            for i in $(seq 1 58); do echo "log line $i"; done
            sleep 0.3
            echo '${MARKUP}' >&2
            echo "E: Unable to locate package workshop-tools" >&2
            exit 100
          fi
          sleep 0.5
      - id: finish
        title: Finish
        run: sleep 1
`

interface Served {
  child: ChildProcess
  url: string
  listen: string
  token?: string
  port: number
}

/** `fleet dashboard --json`, until its first line says where it listens. */
async function startDashboard(args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [FLEET, 'dashboard', '--json', ...args], {env: {...process.env, NO_COLOR: '1'}, stdio: ['ignore', 'pipe', 'pipe']})
  let out = ''
  let err = ''
  child.stderr!.on('data', (d) => (err += d))
  const line = await new Promise<string>((res, rej) => {
    child.stdout!.on('data', (d) => {
      out += d
      if (out.includes('\n')) res(out.split('\n')[0])
    })
    child.on('exit', (code) => rej(new Error(`fleet dashboard exited ${code}: ${out}${err}`)))
  })
  const info = JSON.parse(line) as {url: string; listen: string; token?: string}
  return {child, ...info, port: Number(info.listen.split(':').pop())}
}

async function stop(s: Served | undefined): Promise<void> {
  if (!s || s.child.exitCode !== null) return
  const exited = new Promise((r) => s.child.once('exit', r))
  s.child.kill('SIGTERM')
  await exited
}

/**
 * A TCP proxy between the browser and the dashboard, to kill the event stream as a network
 * would: cut() drops every connection and refuses new ones for a while. It keeps the heads of
 * the requests it saw (to see what the reconnecting browser asked for).
 */
class CutProxy {
  private server!: Server
  private readonly sockets = new Set<Socket>()
  private blocked = false
  readonly heads: string[] = []
  port = 0

  constructor(private readonly target: number) {}

  async start(): Promise<void> {
    this.server = createServer((c) => {
      if (this.blocked) return c.destroy()
      const up = connect(this.target, '127.0.0.1')
      for (const s of [c, up]) {
        this.sockets.add(s)
        s.on('close', () => this.sockets.delete(s))
        s.on('error', () => {})
      }
      c.on('data', (d: Buffer) => {
        const text = d.toString('latin1')
        if (/^[A-Z]+ \//.test(text)) this.heads.push(text.split('\r\n\r\n')[0])
      })
      c.on('close', () => up.destroy())
      up.on('close', () => c.destroy())
      c.pipe(up)
      up.pipe(c)
    })
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()))
    this.port = (this.server.address() as AddressInfo).port
  }

  /** Drop every connection now; refuse new ones for `ms`. */
  cut(ms: number): Promise<void> {
    this.blocked = true
    for (const s of this.sockets) s.destroy()
    return new Promise((r) =>
      setTimeout(() => {
        this.blocked = false
        r()
      }, ms),
    )
  }

  close(): void {
    for (const s of this.sockets) s.destroy()
    this.server?.close()
  }
}

/** What the page shows: every row's state and ETA, every cell's state, by host. */
function pageRoom(page: Page) {
  return page.evaluate(() => {
    const rows = [...document.querySelectorAll('#grid tbody tr')]
    return Object.fromEntries(
      rows.map((tr) => [
        tr.dataset.host!,
        {
          state: tr.dataset.state!,
          eta: tr.querySelector('.c-eta')!.textContent!,
          cells: Object.fromEntries([...tr.querySelectorAll('td.cell')].map((td) => [td.dataset.step!, td.dataset.state!])),
        },
      ]),
    )
  })
}

/** Records every row the page draws (rows are redrawn whole when they change), and the room ETA's texts: the history a reload would wipe. */
async function recordHistory(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as {__rows: unknown[]; __roomEta: string[]; __sentinel: number}
    w.__sentinel = 42
    w.__rows = []
    w.__roomEta = []
    const seen = (tr: El) =>
      w.__rows.push({
        t: performance.now(),
        host: tr.dataset.host,
        state: tr.dataset.state,
        eta: tr.querySelector('.c-eta')?.textContent ?? '',
        cells: Object.fromEntries([...tr.querySelectorAll('td.cell')].map((td) => [td.dataset.step, td.dataset.state])),
      })
    new MutationObserver((muts: El[]) => {
      for (const m of muts)
        for (const n of m.addedNodes) {
          if (!(n instanceof HTMLElement)) continue
          if (n.matches('tr[data-host]')) seen(n)
          for (const tr of n.querySelectorAll('tr[data-host]')) seen(tr)
        }
    }).observe(document.getElementById('grid')!, {childList: true, subtree: true})
    const eta = document.getElementById('room-eta')!
    new MutationObserver(() => w.__roomEta.push(eta.textContent ?? '')).observe(eta, {childList: true, characterData: true, subtree: true})
  })
}

interface RowSeen {
  host: string
  state: string
  eta: string
  cells: Record<string, string>
}

let set: LocalHostSet
let dir: string
let browser: Browser
let served: Served | undefined
let guarded: Served | undefined
let proxy: CutProxy | undefined

beforeAll(async () => {
  ;[set, browser] = await Promise.all([
    startLocalHosts({count: 5, prefix: 'fleet-dash'}),
    chromium.launch({executablePath: CHROMIUM, headless: true, args: process.getuid?.() === 0 ? ['--no-sandbox'] : []}),
  ])
  dir = tempDir()
  mkdirSync(SHOTS, {recursive: true})
}, 120_000)

afterAll(async () => {
  proxy?.close()
  await Promise.all([stop(served), stop(guarded)])
  await browser?.close()
  await set?.stop()
})

describe('fleet dashboard in a real browser', {timeout: 120_000}, () => {
  it('fills in live during a real prepare, reconnects without missing a record, shows ETAs, log tails and hostile output as text', async () => {
    resetHosts(set)
    const [h1, h2, failing, slow, down] = set.hosts
    writeFileSync(join(failing.home, 'fail-here'), '')
    writeFileSync(join(slow.home, 'slow-here'), '')
    await set.stopHost(down)
    const playbook = join(dir, 'dash.yaml')
    writeFileSync(playbook, PLAYBOOK)
    const hostsFile = join(dir, 'hosts.txt')
    writeFileSync(hostsFile, set.hostsFileText())
    const db = join(dir, 'fleet.db')
    FleetStore.open(db).close() // an empty room: the page is open before anything happens

    served = await startDashboard(['--db', db, '--listen', '127.0.0.1:0'])
    expect(served.token).toBeUndefined() // loopback: no token unless one is given
    proxy = new CutProxy(served.port)
    await proxy.start()
    const page = await browser.newPage({viewport: {width: 1280, height: 720}})
    const pageErrors: string[] = []
    page.on('pageerror', (e) => pageErrors.push(e.message))
    await page.goto(`http://127.0.0.1:${proxy.port}/`)
    await page.waitForSelector('body[data-conn="live"]')
    await recordHistory(page)
    expect(await page.locator('#grid tbody tr').count()).toBe(0)

    const prepare = fleet(['prepare', '--hosts', hostsFile, '--db', db, '--playbook', playbook, '--connect-timeout', '10'])
    // A second page, straight to the server, shoots the room mid-run once the slow host's ETA
    // is known (its peers have finished): the README's picture.
    const liveShot = (async () => {
      const viewer = await browser.newPage({viewport: {width: 1280, height: 720}})
      try {
        await viewer.goto(`http://127.0.0.1:${served!.port}/`)
        await viewer.locator(`tr[data-host="${slow.name}"][data-state="running"] td.c-eta`).filter({hasText: /^~\d/}).waitFor({timeout: 40_000})
        await viewer.screenshot({path: join(SHOTS, 'dashboard-live.png')})
        return true
      } catch (e) {
        return (e as Error).message
      } finally {
        await viewer.close()
      }
    })()

    // The grid fills in without a reload: h1's tick cell is seen running, then its console streams.
    const tickCell = page.locator(`tr[data-host="${h1.name}"] td.cell[data-step="tick"]`)
    await tickCell.and(page.locator('[data-state="running"]')).waitFor({timeout: 40_000})
    expect(await tickCell.evaluate((td) => getComputedStyle(td).animationName)).toBe('cell-running')
    await page.click(`tr[data-host="${h1.name}"] .host-link`)
    await page.waitForFunction(() => document.getElementById('d-console')!.textContent!.includes('tick '))
    expect(new URL(page.url()).pathname).toBe(`/host/${h1.name}`)

    // Kill the stream (and every connection) mid-step, refuse new ones for 2.5 s: the records
    // stored meanwhile must all arrive after the browser reconnects with its Last-Event-ID.
    const idBefore = Number(await page.evaluate(() => document.body.dataset.eventId))
    expect(idBefore).toBeGreaterThan(0)
    const headsBefore = proxy.heads.length
    await proxy.cut(2500)
    await page.waitForFunction(() => Number(document.body.dataset.connects) >= 2, undefined, {timeout: 20_000})
    await page.waitForSelector('body[data-conn="live"]')
    const reconnect = proxy.heads.slice(headsBefore).find((h) => h.startsWith('GET /events'))!
    expect(reconnect).toBeDefined()
    const asked = /^last-event-id: *(\d+)$/im.exec(reconnect)?.[1] ?? /[?&]last_event_id=(\d+)/.exec(reconnect)?.[1]
    expect(Number(asked)).toBeGreaterThanOrEqual(idBefore)

    const result = await prepare
    expect(result.code, result.stdout + result.stderr).toBe(1)
    expect(result.stdout).toContain('prepare: 3 of 5 hosts ok.')

    // The page settles on exactly what the store holds (the server's own snapshot).
    const snap = (await (await fetch(`http://127.0.0.1:${served.port}/api/snapshot`)).json()) as {
      id: number
      report: {counts: Record<string, number>; hosts: Array<{name: string; state: string; eta_s: number | null}>; error_groups: Array<{label: string; hosts: string[]}>}
      steps: Record<string, {cells: Array<{step: string; status: string}>}>
    }
    await page.waitForFunction((id) => Number(document.body.dataset.eventId) === id, snap.id, {timeout: 10_000})
    const shown = await pageRoom(page)
    for (const h of snap.report.hosts) {
      expect(shown[h.name]?.state, h.name).toBe(h.state)
      const cells = Object.fromEntries((snap.steps[h.name]?.cells ?? []).map((c) => [c.step, c.status]))
      for (const [step, status] of Object.entries(cells)) expect(shown[h.name].cells[step], `${h.name} ${step}`).toBe(status)
    }
    expect(shown[h1.name].cells).toMatchObject({tick: 'ok', finish: 'ok'})
    expect(shown[failing.name].cells['maybe-fail']).toBe('failed')
    expect(shown[down.name].state).toBe('unreachable')
    // Unreachable counted apart from failed.
    const counts = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#counts .count')].map((c) => [c.dataset.state, Number(c.querySelector('b')!.textContent)])))
    expect(counts).toMatchObject({ok: 3, failed: 1, unreachable: 1, running: 0, pending: 0})
    expect(snap.report.counts).toMatchObject({ok: 3, failed: 1, unreachable: 1})

    // No reload happened: the same document saw every change, and one snapshot only (the
    // reconnect was a catch-up, not a fresh load).
    const meta = await page.evaluate(() => ({sentinel: (window as unknown as {__sentinel: number}).__sentinel, snapshots: document.body.dataset.snapshots, connects: Number(document.body.dataset.connects)}))
    expect(meta).toMatchObject({sentinel: 42, snapshots: '1'})
    const rows = (await page.evaluate(() => (window as unknown as {__rows: RowSeen[]}).__rows)) as RowSeen[]
    const tickStates = rows.filter((r) => r.host === h1.name).map((r) => r.cells.tick)
    const firstRunning = tickStates.indexOf('running')
    expect(firstRunning).toBeGreaterThanOrEqual(0)
    expect(tickStates.indexOf('ok', firstRunning)).toBeGreaterThan(firstRunning)
    const h2Rows = rows.filter((r) => r.host === h2.name)
    expect(Object.values(h2Rows[0].cells).filter((c) => c === 'ok')).toEqual([])
    expect(new Set(Object.values(h2Rows[h2Rows.length - 1].cells))).toEqual(new Set(['ok']))

    // The console missed nothing: every tick line, once each, in order, across the cut.
    const consoleText = await page.locator('#d-console').textContent()
    for (let i = 1; i <= TICKS; i++) expect(consoleText!.split(`tick ${i} of ${TICKS}\n`).length - 1, `tick ${i}`).toBe(1)
    expect(consoleText!.indexOf(`tick ${TICKS} of`)).toBeGreaterThan(consoleText!.indexOf('tick 1 of'))
    expect(consoleText).toContain(MARKUP) // the hostile step's output, as text

    // The ETA: the slow host's is unknown while no peer has finished the steps ahead of it
    // (the playbook declares no timeouts), then shown once they have.
    const slowRows = rows.filter((r) => r.host === slow.name && r.state === 'running')
    const firstKnown = slowRows.findIndex((r) => /^~\d/.test(r.eta))
    expect(firstKnown, JSON.stringify(slowRows.map((r) => r.eta))).toBeGreaterThan(0)
    expect(slowRows.slice(0, firstKnown).some((r) => r.eta === '?')).toBe(true)
    const roomEtas = (await page.evaluate(() => (window as unknown as {__roomEta: string[]}).__roomEta)) as string[]
    expect(roomEtas.some((t) => /^room ready in ~\d/.test(t))).toBe(true)
    expect(await liveShot, 'the room shot while the slow host ran with its ETA known').toBe(true)

    // The failing host's drill-down: the failed step's last 50 lines, the markup inert.
    await page.click(`tr[data-host="${failing.name}"] .host-link`)
    await page.waitForFunction(() => document.getElementById('d-tail')!.textContent!.includes('E: Unable to locate package'))
    const tail = (await page.locator('#d-tail').textContent())!.split('\n')
    expect(tail).toHaveLength(50)
    expect(tail[0]).toBe('log line 11')
    expect(tail.slice(-2)).toEqual([MARKUP, 'E: Unable to locate package workshop-tools'])
    expect(await page.locator('#d-tail-title').textContent()).toMatch(/^Failed: .*\(maybe-fail\), last 50 lines/)
    expect(await page.locator('#d-error').textContent()).toContain('E: Unable to locate package workshop-tools')
    // The error group, with the report's folded label.
    expect(snap.report.error_groups.length).toBeGreaterThan(0)
    const groupsShown = await page.locator('#groups .g-hosts').allTextContents()
    expect(groupsShown).toEqual(expect.arrayContaining(snap.report.error_groups.slice(0, 12).map((g) => g.label)))

    // Nothing a host printed ran or became an element.
    const inert = await page.evaluate(() => ({
      pwned: (window as unknown as {__pwned?: number}).__pwned,
      imgs: document.querySelectorAll('img').length,
      scripts: [...document.scripts].map((s) => s.getAttribute('src')),
      stepTitle: document.querySelector('#d-steps li[data-step="hostile"] .title')?.textContent,
      columnTitle: document.querySelector('#grid th.c-step[data-step="hostile"]')?.getAttribute('title'),
    }))
    expect(inert.pwned).toBeUndefined()
    expect(inert.imgs).toBe(0)
    expect(inert.scripts).toEqual(['/app.mjs'])
    expect(inert.stepTitle).toBe(TITLE_MARKUP)
    expect(inert.columnTitle).toContain(TITLE_MARKUP)
    expect(pageErrors).toEqual([])

    // Screenshots for the README: the room, one drill-down, a participant's phone.
    await page.screenshot({path: join(SHOTS, 'dashboard-host.png')})
    await page.click('#d-close')
    await page.waitForSelector('#detail[hidden]', {state: 'attached'})
    await page.screenshot({path: join(SHOTS, 'dashboard-room.png')})
    const phone = await browser.newPage({viewport: {width: 390, height: 844}, deviceScaleFactor: 1})
    await phone.goto(`http://127.0.0.1:${served.port}/host/${failing.name}`)
    await phone.waitForFunction(() => document.getElementById('d-tail')!.textContent!.includes('E: Unable'))
    expect(await phone.locator('#grid-wrap').isVisible()).toBe(false)
    expect(await phone.locator('#d-name').textContent()).toBe(failing.name)
    await phone.screenshot({path: join(SHOTS, 'dashboard-phone.png')})
    await phone.close()
    await page.close()
    await set.startHost(down)
  })

  it('refuses what is not a plain GET of a known path, with short plain answers and the security headers', async () => {
    const base = `http://127.0.0.1:${served!.port}`
    const page = await fetch(`${base}/`)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/)
    expect(page.headers.get('content-security-policy')).not.toMatch(/unsafe-inline/)
    expect(await page.text()).not.toMatch(/<script(?![^>]*\bsrc=)/) // no inline script
    for (const path of ['/api/snapshot', `/api/host/${set.hosts[0].name}`]) {
      const r = await fetch(base + path)
      expect(r.status, path).toBe(200)
      expect(r.headers.get('cache-control')).toBe('no-store')
    }
    const ctl = new AbortController()
    const events = await fetch(`${base}/events`, {signal: ctl.signal})
    expect(events.headers.get('content-type')).toMatch(/^text\/event-stream/)
    expect(events.headers.get('cache-control')).toBe('no-store')
    const reader = events.body!.getReader()
    let head = ''
    while (!head.includes('event: snapshot')) head += new TextDecoder().decode((await reader.read()).value)
    expect(head).toMatch(/^retry: \d+\n\nid: \d+\nevent: snapshot\n/)
    ctl.abort()

    const answers = [
      [await fetch(`${base}/nope`), 404],
      [await fetch(`${base}/api/host/nobody-here`), 404],
      [await fetch(`${base}/api/host/%E0%A4%A`), 404],
      [await fetch(`${base}/`, {method: 'POST', body: 'x'}), 405],
      [await fetch(`${base}/api/snapshot`, {method: 'DELETE'}), 405],
    ] as const
    for (const [r, status] of answers) {
      expect(r.status).toBe(status)
      expect(r.headers.get('content-type')).toMatch(/^text\/plain/)
      const body = await r.text()
      expect(body.length).toBeLessThan(200)
      expect(body).not.toMatch(/\n\s+at /)
    }
    expect(answers[3][0].headers.get('allow')).toBe('GET')
  })

  it('needs the token on a non-loopback address: 401 without it, 200 with it, and the page carries it', async () => {
    const db = join(dir, 'fleet.db')
    const bad = await fleet(['dashboard', '--db', db, '--listen', '0.0.0.0:0', '--token', 'short'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/--token: give at least 12 characters/)

    guarded = await startDashboard(['--db', db, '--listen', '0.0.0.0:0'])
    expect(guarded.token).toMatch(/^[A-Za-z0-9_-]{32}$/)
    expect(guarded.url).toMatch(new RegExp(`^http://[^/]+:${guarded.port}/\\?token=${guarded.token}$`))
    const base = `http://127.0.0.1:${guarded.port}`
    const t = guarded.token!
    for (const path of ['/', '/app.mjs', '/api/snapshot', '/events', `/host/${set.hosts[0].name}`, '/nope']) {
      const r = await fetch(base + path)
      expect(r.status, path).toBe(401)
      expect(await r.text()).toMatch(/^unauthorized/)
    }
    const wrong = t.slice(0, -1) + (t.endsWith('A') ? 'B' : 'A')
    expect((await fetch(`${base}/api/snapshot?token=${wrong}`)).status).toBe(401)
    expect((await fetch(`${base}/api/snapshot`, {headers: {Authorization: `Bearer ${wrong}`}})).status).toBe(401)
    expect((await fetch(`${base}/api/snapshot?token=${t}`)).status).toBe(200)
    expect((await fetch(`${base}/api/snapshot`, {headers: {Authorization: `Bearer ${t}`}})).status).toBe(200)
    expect((await fetch(`${base}/nope?token=${t}`)).status).toBe(404)

    const page = await browser.newPage()
    await page.goto(`${base}/?token=${t}`)
    await page.waitForSelector('body[data-conn="live"]')
    await page.waitForSelector(`tr[data-host="${set.hosts[2].name}"][data-state="failed"]`)
    await page.click(`tr[data-host="${set.hosts[2].name}"] .host-link`)
    await page.waitForFunction(() => document.getElementById('d-tail')!.textContent!.includes('E: Unable'))
    expect(new URL(page.url()).search).toBe(`?token=${t}`)
    await page.close()
  })

  it('fits a room of 60 hosts × 45 steps on a 1920×1080 projector', async () => {
    const db = join(dir, 'room60.db')
    writeSyntheticRoom(db, {hosts: 60, steps: 45})
    const big = await startDashboard(['--db', db, '--listen', '127.0.0.1:0'])
    try {
      const page = await browser.newPage({viewport: {width: 1920, height: 1080}})
      await page.goto(big.url)
      await page.waitForSelector('body[data-conn="live"]')
      await page.waitForFunction(() => document.querySelectorAll('#grid tbody tr').length === 60)
      const m = await page.evaluate(() => {
        const cell = document.querySelector('#grid td.cell')!.getBoundingClientRect()
        const host = getComputedStyle(document.querySelector('.host-link')!)
        const last = document.querySelector('#grid tbody tr:last-child')!.getBoundingClientRect()
        return {
          scrollW: document.documentElement.scrollWidth,
          scrollH: document.documentElement.scrollHeight,
          cells: document.querySelectorAll('#grid tbody tr:first-child td.cell').length,
          cellW: cell.width,
          cellH: cell.height,
          hostFont: parseFloat(host.fontSize),
          cellFont: parseFloat(getComputedStyle(document.querySelector('#grid td.cell')!).fontSize),
          lastBottom: last.bottom,
          side: document.getElementById('side')!.getBoundingClientRect().left,
          running: [...document.querySelectorAll('#grid td.s-running')].map((td) => getComputedStyle(td).animationName),
        }
      })
      expect(m.cells).toBe(45)
      expect(m.scrollW).toBeLessThanOrEqual(1920)
      expect(m.scrollH).toBeLessThanOrEqual(1080)
      expect(m.lastBottom).toBeLessThanOrEqual(1080)
      expect(m.cellW).toBeGreaterThanOrEqual(20)
      expect(m.cellH).toBeGreaterThanOrEqual(15)
      expect(m.hostFont).toBeGreaterThanOrEqual(13)
      expect(m.cellFont).toBeGreaterThanOrEqual(9)
      expect(m.running.length).toBeGreaterThan(0)
      expect(new Set(m.running)).toEqual(new Set(['cell-running']))
      await page.close()
    } finally {
      await stop(big)
    }
  })
})

// The page's module builds its DOM from data with textContent/setAttribute only.
it('the page module never parses data as HTML', () => {
  const text = readFileSync(resolve('src/dashboard/page/app.mjs'), 'utf8')
  expect(text).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/)
})
