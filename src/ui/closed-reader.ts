/**
 * A reader that went away (`fleet status | head`, a pager quit, an SSH session dropped) ends
 * the command's output, not the command: unhandled, Node throws the EPIPE as an 'error' event
 * with a stack trace. Each later write fails the same way and goes nowhere; a prepare goes on
 * provisioning the room, and `fleet status --watch` stops (readerGone).
 */
export function quietOnClosedReader(stream: NodeJS.WriteStream): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e
  })
}

/** A write to the stream has failed: nobody reads it any more (stdio streams are never `destroyed`). */
export const readerGone = (stream: NodeJS.WriteStream): boolean => !stream.writable
