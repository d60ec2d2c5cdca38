// `naarikavach backup --to <file>`: an online, consistent copy of the SQLite database while the server
// keeps writing (SQLite's backup API); for PostgreSQL it says that pg_dump is the tool, and fails.
import fs from 'node:fs'
import path from 'node:path'
import SQLite from 'better-sqlite3'
import type { Config } from '../../config.ts'
import { sqliteFileFromUrl } from '../../db/dialect.ts'

export interface BackupArgs {
  to?: string
}

function fsyncPath(file: string): void {
  const fd = fs.openSync(file, 'r')
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

export async function backupCommand(config: Config, args: BackupArgs): Promise<number> {
  if (!args.to) {
    console.error('Usage: naarikavach backup --to <file>')
    return 2
  }
  const file = sqliteFileFromUrl(config.databaseUrl)
  if (file === null) {
    console.error(
      'DATABASE_URL is a PostgreSQL database: back it up with PostgreSQL\'s own tool, e.g.\n' +
        '  pg_dump --format=custom --file=naarikavach.dump "$DATABASE_URL"\n' +
        'and restore it with pg_restore (docs/operations.md, "Backup and restore").',
    )
    return 1
  }
  if (file === ':memory:') {
    console.error('DATABASE_URL is an in-memory database: there is nothing on disk to back up.')
    return 1
  }
  const source = path.resolve(file)
  if (!fs.existsSync(source)) {
    console.error(`No database at ${source} (DATABASE_URL).`)
    return 1
  }
  const target = path.resolve(args.to)
  const real = (p: string) => (fs.existsSync(p) ? fs.realpathSync(p) : p)
  if ([source, `${source}-wal`, `${source}-shm`].map(real).includes(real(target))) {
    console.error(`Refusing to write the backup over the database itself (${source}).`)
    return 1
  }
  fs.mkdirSync(path.dirname(target), { recursive: true })
  // Written beside the target and renamed into place: a backup cut short never looks like a whole one.
  const partial = `${target}.partial-${process.pid}`
  const db = new SQLite(source, { fileMustExist: true })
  db.pragma('busy_timeout = 5000')
  try {
    // All remaining pages in one step: one read snapshot, so the server's commits meanwhile (made on
    // its own connection, which would restart a page-by-page copy) can neither tear it nor starve it.
    const { totalPages } = await db.backup(partial, { progress: () => 0x7fffffff })
    const copy = new SQLite(partial, { fileMustExist: true })
    try {
      const check = copy.pragma('integrity_check', { simple: true })
      if (check !== 'ok') throw new Error(`the copy failed its integrity check: ${String(check)}`)
      // A standalone file: no -wal beside it to carry along.
      copy.pragma('journal_mode = DELETE')
    } finally {
      copy.close()
    }
    fsyncPath(partial)
    fs.renameSync(partial, target)
    fsyncPath(path.dirname(target))
    console.log(`Backed up ${source} to ${target} (${totalPages} pages). Restore: stop the server, then start it with DATABASE_URL=sqlite:${target}`)
    return 0
  } catch (error) {
    console.error(`Backup failed: ${(error as Error).message}`)
    return 1
  } finally {
    db.close()
    for (const leftover of [partial, `${partial}-wal`, `${partial}-shm`, `${partial}-journal`]) fs.rmSync(leftover, { force: true })
  }
}
