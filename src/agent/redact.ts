export const REDACTED = '********'

/** Replace every secret value in `text`. Longest first, so a secret containing another is hidden whole. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) if (s) out = out.split(s).join(REDACTED)
  return out
}

/**
 * Redacts a stream that arrives in arbitrary pieces. A secret may be cut
 * across two pieces, so the last (longest secret - 1) characters are held
 * back until more text, a newline or the end shows they are not a secret's start.
 */
export class StreamRedactor {
  private pending = ''
  private readonly secrets: string[]
  private readonly holdBack: number
  /** A line end proves nothing pending starts a secret, unless a secret spans lines. */
  private readonly flushAtNewline: boolean

  constructor(secrets: readonly string[]) {
    this.secrets = [...new Set(secrets.filter(Boolean))].sort((a, b) => b.length - a.length)
    this.holdBack = Math.max(0, ...this.secrets.map((s) => s.length - 1))
    this.flushAtNewline = !this.secrets.some((s) => s.includes('\n'))
  }

  /** Feed text; returns what is now safe to emit. */
  push(text: string): string {
    const all = redact(this.pending + text, this.secrets)
    const nl = this.flushAtNewline ? all.lastIndexOf('\n') : -1
    const keepFrom = Math.max(nl + 1, all.length - this.holdBack)
    this.pending = all.slice(keepFrom)
    return all.slice(0, keepFrom)
  }

  end(): string {
    const rest = redact(this.pending, this.secrets)
    this.pending = ''
    return rest
  }
}
