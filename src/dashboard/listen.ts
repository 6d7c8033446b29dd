import {isIP} from 'node:net'
import {hostname, networkInterfaces} from 'node:os'
import {UserError} from '../errors/user-error.js'

export interface ListenAddress {
  host: string
  port: number
}

/** `HOST:PORT`, `[IPv6]:PORT`, or a bare `PORT` (on 127.0.0.1). */
export function parseListen(text: string): ListenAddress {
  const bad = () => new UserError(`--listen: "${text}" is not HOST:PORT (e.g. 127.0.0.1:8080, 0.0.0.0:8080, [::1]:8080).`)
  let host = '127.0.0.1'
  let port = text
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(text)
  if (v6) [host, port] = [v6[1], v6[2]]
  else if (text.includes(':')) {
    const i = text.lastIndexOf(':')
    ;[host, port] = [text.slice(0, i), text.slice(i + 1)]
  }
  if (!host || !/^\d{1,5}$/.test(port) || Number(port) > 65535) throw bad()
  if (v6 && isIP(host) !== 6) throw bad()
  return {host, port: Number(port)}
}

/** Only this machine can reach it: 127.0.0.0/8, ::1, localhost. Anything else (0.0.0.0, a LAN address, a name) needs a token. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase()
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true
  if (isIP(h) === 4) return h.startsWith('127.')
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h)
  return !!mapped && mapped[1].startsWith('127.')
}

/** The address to print for a bound host: a wildcard is shown as this machine's first outside IPv4 address (else its name). */
export function shownHost(host: string): string {
  let h = host
  if (host === '0.0.0.0' || host === '::') {
    const outside = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)
    h = outside?.address ?? hostname()
  }
  return isIP(h) === 6 ? `[${h}]` : h
}
