import {isIPv6} from 'node:net'
import {Address, PortText, UserName} from './schema.js'
import {checkValue} from './problems.js'

/*
 * Small syntax pieces shared by the hosts-file and Ansible INI parsers:
 * splitting a line into words, and reading `[user@]address[:port]`.
 */

export type Tokenized = {ok: true; tokens: string[]} | {ok: false; message: string}

/**
 * Split a line into whitespace-separated words. Single or double quotes group
 * words (`identity="~/my keys/id"`) and are removed; inside double quotes a
 * backslash escapes `"` and `\`. An unquoted `#` starts a comment.
 */
export function tokenize(line: string): Tokenized {
  const tokens: string[] = []
  let current = ''
  let inToken = false
  let quote: '"' | "'" | undefined
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quote) {
      if (c === quote) quote = undefined
      else if (quote === '"' && c === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) current += line[++i]
      else current += c
      continue
    }
    if (c === '"' || c === "'") {
      quote = c
      inToken = true
    } else if (c === '#') {
      break
    } else if (c === ' ' || c === '\t') {
      if (inToken) tokens.push(current)
      current = ''
      inToken = false
    } else {
      current += c
      inToken = true
    }
  }
  if (quote) return {ok: false, message: `a ${quote === '"' ? 'double' : 'single'} quote is not closed.`}
  if (inToken) tokens.push(current)
  return {ok: true, tokens}
}

export interface HostPort {
  host: string
  port?: string
}

/**
 * `address[:port]` where an IPv6 address is either bare (no port possible) or
 * in brackets (`[2001:db8::5]:2222`). Returns the pieces as written.
 */
export function splitHostPort(text: string): {ok: true; value: HostPort} | {ok: false; message: string} {
  if (text.startsWith('[')) {
    const close = text.indexOf(']')
    if (close < 0) return {ok: false, message: `${JSON.stringify(text)} has "[" without a closing "]".`}
    const host = text.slice(1, close)
    const rest = text.slice(close + 1)
    if (!isIPv6(host)) {
      return {ok: false, message: `${JSON.stringify(text)}: brackets are only for IPv6 addresses.`}
    }
    if (rest === '') return {ok: true, value: {host}}
    if (!rest.startsWith(':')) {
      return {ok: false, message: `${JSON.stringify(text)} has something other than ":PORT" after "]".`}
    }
    return {ok: true, value: {host, port: rest.slice(1)}}
  }
  const colons = text.split(':').length - 1
  if (colons >= 2) {
    if (!isIPv6(text)) {
      return {
        ok: false,
        message: `${JSON.stringify(text)} is not a valid IPv6 address (write an IPv6 address with a port as [ADDRESS]:PORT).`,
      }
    }
    return {ok: true, value: {host: text}}
  }
  if (colons === 1) {
    const at = text.indexOf(':')
    return {ok: true, value: {host: text.slice(0, at), port: text.slice(at + 1)}}
  }
  return {ok: true, value: {host: text}}
}

export interface Target {
  user?: string
  host: string
  port?: number
}

/**
 * Parse `[user@]address[:port]` and validate every part. Problems are
 * returned as messages (the caller knows the place); `value` is set only when
 * there were none.
 */
export function parseTarget(text: string): {value?: Target; messages: string[]} {
  const messages: string[] = []
  let rest = text
  let user: string | undefined
  const at = text.lastIndexOf('@')
  if (at >= 0) {
    const checked = checkValue(UserName, text.slice(0, at))
    if (checked.ok) user = checked.value
    else messages.push(checked.message)
    rest = text.slice(at + 1)
  }
  const split = splitHostPort(rest)
  if (!split.ok) return {messages: [...messages, split.message]}
  const {host, port: portText} = split.value
  if (host === '') messages.push(`${JSON.stringify(text)} has no address.`)
  else {
    const checked = checkValue(Address, host)
    if (!checked.ok) messages.push(checked.message)
  }
  let port: number | undefined
  if (portText !== undefined) {
    const checked = checkValue(PortText, portText)
    if (checked.ok) port = checked.value
    else messages.push(checked.message)
  }
  if (messages.length > 0) return {messages}
  const value: Target = {host}
  if (user !== undefined) value.user = user
  if (port !== undefined) value.port = port
  return {value, messages}
}

/**
 * A ProxyJump value: `[ssh://][user@]host[:port]`, or `none`. fleet supports one
 * jump host, so a comma-separated chain is refused.
 */
export function parseJump(text: string): {value?: Target | null; messages: string[]} {
  if (text === 'none') return {value: null, messages: []}
  if (text.includes(',')) {
    return {messages: [`${JSON.stringify(text)} is a chain of jump hosts; fleet supports one jump host.`]}
  }
  const bare = text.startsWith('ssh://') ? text.slice('ssh://'.length).replace(/\/$/, '') : text
  return parseTarget(bare)
}
