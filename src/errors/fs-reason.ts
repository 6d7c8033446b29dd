/**
 * Why a folder or file could not be made or written here, in words for a sentence (a state
 * folder, --out, --db): undefined for an error that is not one of these (a full disk is the
 * caller's own case).
 */
export function cannotMakeReason(e: unknown): string | undefined {
  switch ((e as NodeJS.ErrnoException | null)?.code) {
    case 'ENOTDIR':
    case 'EEXIST':
      return 'a file is in the way'
    case 'EACCES':
    case 'EPERM':
      return 'permission denied'
    case 'EROFS':
      return 'its file system is read-only'
    default:
      return undefined
  }
}
