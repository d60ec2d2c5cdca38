// One real HTTP request (fetch) against a running API, with the JSON answer parsed.

export interface Answer {
  status: number
  headers: Headers
  text: string
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any
}

export interface CallOptions {
  json?: unknown
  /** An API token, sent as `<scheme> <token>` (scheme defaults to Token). */
  token?: string
  scheme?: string
  /** Shorthand for `token: user.token`. */
  user?: { token: string }
  headers?: Record<string, string>
}

export async function call(apiUrl: string, method: string, path: string, opts: CallOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers }
  const token = opts.token ?? opts.user?.token
  if (token) headers.authorization = `${opts.scheme ?? 'Token'} ${token}`
  let body: string | undefined
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json'
    body = JSON.stringify(opts.json)
  }
  const res = await fetch(`${apiUrl}${path}`, { method, headers, body })
  const text = await res.text()
  return { status: res.status, headers: res.headers, text, body: text ? JSON.parse(text) : undefined }
}
