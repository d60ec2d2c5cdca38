// The texts contacts receive. `{{link}}` stands for the contact's own live-tracking link, filled in at send time
// (the link's token is never stored, so it cannot be in the stored message).

export const LINK_PLACEHOLDER = '{{link}}'

function clock(at: string, timeZone: string): string {
  return new Intl.DateTimeFormat('en-IN', { timeZone, day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hour12: false, timeZoneName: 'short' }).format(new Date(at))
}

/** The alert: her name as she gave it, when, and the link. Kept short (SMS segments are 160 characters). */
export function alertText(name: string, at: string, timeZone: string): string {
  return `SOS from ${name} at ${clock(at, timeZone)}. She may need help now. Follow her live: ${LINK_PLACEHOLDER} (NaariKavach; police control room alerted)`
}

/** The closing message, to contacts that got the alert. */
export function closingText(name: string, status: 'resolved' | 'cancelled', at: string, timeZone: string): string {
  const what = status === 'resolved' ? 'was resolved' : 'was called off'
  return `Update: the SOS from ${name} ${what} at ${clock(at, timeZone)}. (NaariKavach)`
}
