import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {UserError} from '../errors/user-error.js'
import {FleetStore} from '../store/store.js'
import {isLoopback, parseListen, shownHost} from './listen.js'
import {loadPage, type PageFile} from './page-files.js'
import {RoomPoller} from './poller.js'
import {readHostDetail} from './room.js'
import {RoomReports} from './room-report.js'
import {SseClient} from './sse.js'
import {checkGivenToken, generateToken, requestToken, tokenMatches} from './token.js'

export interface DashboardOptions {
  db: string
  /** HOST:PORT (default 127.0.0.1:8080). */
  listen?: string
  /** Required on every request when set; generated when the address is not loopback and none is given. */
  token?: string
  pollMs?: number
  keepAliveMs?: number
}

export interface Dashboard {
  /** The room's URL, with the token when one is needed. */
  url: string
  /** The bound address (port 0 resolved). */
  listen: string
  token?: string
  close(): Promise<void>
}

/** Every response: nothing from this page runs but its own module, nothing leaks through Referer (the URL can hold the token). */
const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', ...headers})
  res.end(`${text}\n`)
}

function json(res: ServerResponse, value: unknown): void {
  res.writeHead(200, {...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8'})
  res.end(JSON.stringify(value))
}

/** A path segment, decoded; undefined when it is not valid percent-encoding. */
function segment(s: string): string | undefined {
  try {
    return decodeURIComponent(s)
  } catch {
    return undefined
  }
}

/**
 * `fleet dashboard`: the room's live page, read-only, served from the store by node:http.
 * GET only; `/` and `/host/NAME` (the page), `/app.mjs`, `/app.css`, `/api/snapshot`,
 * `/api/host/NAME`, `/events` (Server-Sent Events). A loopback address needs no token unless
 * one is given; any other needs one on every request.
 */
export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const {host, port} = parseListen(opts.listen ?? '127.0.0.1:8080')
  const token = opts.token !== undefined ? checkGivenToken(opts.token) : isLoopback(host) ? undefined : generateToken()
  const page = loadPage(token)
  const store = FleetStore.openReadOnly(opts.db)
  const reports = new RoomReports(store)
  const poller = new RoomPoller(store, reports, opts.pollMs ?? 150)
  const streams = new Set<SseClient>()

  const serveFile = (res: ServerResponse, f: PageFile) => {
    res.writeHead(200, {...SECURITY_HEADERS, 'Content-Type': f.type})
    res.end(f.body)
  }

  const openStream = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const raw = req.headers['last-event-id'] ?? url.searchParams.get('last_event_id') ?? undefined
    const last = typeof raw === 'string' && /^\d{1,15}$/.test(raw.trim()) ? Number(raw.trim()) : undefined
    const inputs = await reports.inputs()
    if (req.destroyed) return
    // One read, written at once, then the poller's updates: nothing between the two is lost.
    const client = new SseClient(res)
    store.readTx(() => {
      const caught = last === undefined ? undefined : poller.catchUp(inputs, last)
      if (caught) client.update(caught)
      else client.snapshot(poller.snapshot(inputs))
    })
    streams.add(client)
    poller.listeners.add(client)
    res.on('close', () => {
      streams.delete(client)
      poller.listeners.delete(client)
    })
  }

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET') return plain(res, 405, 'method not allowed: the dashboard is read-only (GET only)', {Allow: 'GET'})
    const url = new URL(req.url ?? '/', 'http://dashboard')
    if (token !== undefined && !tokenMatches(token, requestToken(req, url))) {
      return plain(res, 401, 'unauthorized: this dashboard needs its token (?token=... in the URL, or Authorization: Bearer ...)', {'WWW-Authenticate': 'Bearer'})
    }
    const path = url.pathname
    if (path === '/' || /^\/host\/[^/]+$/.test(path)) return serveFile(res, page.get('index.html')!)
    if (path === '/app.mjs') return serveFile(res, page.get('app.mjs')!)
    if (path === '/app.css') return serveFile(res, page.get('app.css')!)
    if (path === '/events') return openStream(req, res, url)
    // Browsers ask for it on every page: no icon, and no error in the console.
    if (path === '/favicon.ico') {
      res.writeHead(204, SECURITY_HEADERS)
      return res.end()
    }
    if (path === '/api/snapshot') {
      const inputs = await reports.inputs()
      const {rows: _rows, ...snap} = store.readTx(() => poller.snapshot(inputs))
      return json(res, snap)
    }
    const hostPath = /^\/api\/host\/([^/]+)$/.exec(path)
    if (hostPath) {
      const name = segment(hostPath[1])
      const inputs = await reports.inputs()
      const detail = name === undefined ? undefined : store.readTx(() => readHostDetail(store, reports, inputs, name))
      return detail ? json(res, detail) : plain(res, 404, 'not found: no host by that name in this room')
    }
    return plain(res, 404, 'not found')
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: Error) => {
      process.stderr.write(`fleet dashboard: ${req.method} ${(req.url ?? '').replace(/token=[^&]*/g, 'token=...')}: ${e.message}\n`)
      if (!res.headersSent) plain(res, 500, 'internal error: the dashboard could not read the store; see its terminal')
      else res.destroy()
    })
  })
  // An open event stream is not an idle request.
  server.requestTimeout = 0
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      store.close()
      const why: Record<string, string> = {EADDRINUSE: 'that port is taken (give another, or 0 for any free one)', EADDRNOTAVAIL: 'this machine has no such address', EACCES: 'ports below 1024 need root'}
      reject(why[e.code ?? ''] ? new UserError(`--listen ${opts.listen ?? '127.0.0.1:8080'}: ${why[e.code!]}.`) : e)
    })
    server.listen(port, host, () => resolve())
  })
  poller.start()
  const keepAlive = setInterval(() => {
    for (const s of streams) s.keepAlive()
  }, opts.keepAliveMs ?? 15_000)

  const bound = (server.address() as AddressInfo).port
  const base = `http://${shownHost(host)}:${bound}/`
  return {
    url: token ? `${base}?token=${encodeURIComponent(token)}` : base,
    listen: `${host.includes(':') ? `[${host}]` : host}:${bound}`,
    token,
    close: async () => {
      clearInterval(keepAlive)
      poller.stop()
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
      store.close()
    },
  }
}
