// The compact description of the Socket.IO interface served at /api/realtime-schema/ (kept for the clients
// that read it); the complete, standard one is the AsyncAPI document at /api/asyncapi.json (asyncapi.ts).

const point = { sos_id: 'integer', latitude: 'number', longitude: 'number', timestamp: 'ISO 8601 string (the phone\'s time of the fix when it sent one)', id: 'integer (the point\'s id)', accuracy: 'number (only when the phone sent one)' }
const ack = 'Optional callback: {ok: true, data} | {ok: false, error: {code, message, fields?, retry_after?}}; code "unavailable" (with retry_after): the database is down, try again'

export const REALTIME_DESCRIPTION = {
  asyncapi: '/api/asyncapi.json: the AsyncAPI 3.0 document of every event, with payload schemas (this is a summary)',
  protocol: 'Socket.IO v4 (Engine.IO v4), default namespace "/", path /socket.io/',
  port: 'SOCKET_PORT (default 8001)',
  handshake: {
    auth: { token: 'API token (optional; also accepted as an Authorization: Token <key> header)' },
    errors: 'connect_error "Invalid token." (revoked or unknown token); "Authentication is unavailable, try again." with data {code: "unavailable", retry_after} while the database is down',
  },
  clientEvents: {
    join_sos_channel: {
      payload: { after: 'cursor (optional): replay the incident log after it instead of the snapshot' },
      who: 'staff (legacy: anyone)',
      answers: ['room_joined {channel, message}', 'sos_snapshot {channel, sos: [open SOS], truncated, cursor} (no after)', 'events_replay {after, events, truncated, cursor} (with after; then sos_snapshot if truncated)'],
      then: ['new_sos', 'sos_updated', 'sos_escalated', 'sos_resolved'],
      ack,
    },
    join_sos_room: {
      payload: { room_id: 'uuid (or the bare string)', sos_token: 'string, unless staff' },
      who: 'staff, or the holder of that SOS token (legacy: anyone)',
      answers: ['room_joined {room_id, message}', 'location_history {updates: [point], truncated} (only when there is stored history; no top-level sos_id)'],
      then: ['location_history (one point)', 'sos_resolved'],
      ack,
    },
    join_officer_room: { payload: { unit_number: 'string (or the bare string)' }, who: 'officers of that unit, dispatchers, admins (legacy: anyone)', answers: ['room_joined {unit_number, message}'], then: ['unit_location_update', 'sos_resolved'], ack },
    join_location_tracking_channel: { payload: {}, who: 'staff (legacy: anyone)', answers: ['room_joined {channel, message}', 'location_snapshot {channel, positions: [last point of each open SOS], truncated}'], then: ['location_tracking_update'], ack },
    join_officer_update: { payload: {}, who: 'staff (legacy: anyone)', answers: ['room_joined {channel: "officer_tracking_channel", message}', 'unit_snapshot {channel, units: [last position of each unit], truncated}'], then: ['unit_loc'], ack },
    officer_location_update: { payload: { unit_id: 'string', latitude: 'number', longitude: 'number', timestamp: 'ISO 8601 or epoch ms (optional)' }, who: 'an officer, for their own unit (legacy: anyone)', broadcasts: 'unit_loc', ack },
    create_sos: {
      payload: { name: 'string', sos_type: '0|1', initial_latitude: 'number', initial_longitude: 'number', contacts: '[{name, phone (E.164), email?}] (optional; trusted contacts, alerted after CONTACT_GRACE_SECONDS)', client_request_id: 'string (optional): the Idempotency-Key of a retry-safe create, 8–255 visible ASCII, a fresh UUID v4 per SOS' },
      who: 'anyone',
      answers: ['create_sos_response {success, data|error}'],
      note: 'A repeat of client_request_id within IDEMPOTENCY_TTL_SECONDS answers the first data again (no second SOS, no second new_sos); another body with it is error code idempotency_conflict.',
      ack,
    },
    update_location: {
      payload: { sos_request: 'integer', latitude: 'number', longitude: 'number', sos_token: 'string', accuracy: 'number, metres (optional)', recorded_at: 'ISO 8601 with offset or epoch ms (optional): the phone\'s time of the fix' },
      who: 'SOS token holder, owner, staff (legacy: anyone)',
      answers: ['update_location_response {success, data|error}'],
      ack,
    },
  },
  serverEvents: {
    connection_established: { message: 'string', sid: 'string', user: '{id, username, role} | null' },
    room_joined: { message: 'string', channel: 'string?', room_id: 'string?', unit_number: 'string?' },
    new_sos: { room: 'sos_channel', payload: { sos_id: 'integer', room_id: 'uuid', name: 'string', sos_type: '0|1', latitude: 'number', longitude: 'number', created_at: 'ISO 8601' } },
    sos_snapshot: {
      to: 'a socket that has just joined sos_channel',
      payload: { channel: 'sos_channel', sos: '[new_sos fields + status: active|acknowledged|dispatched, unit_number_dispatched: string|null], newest first, at most SNAPSHOT_LIMIT', truncated: 'boolean' },
      note: 'The channel is joined before the snapshot is read, so nothing falls between them; an SOS may appear in both the snapshot and a new_sos (de-duplicate on sos_id).',
    },
    location_snapshot: { to: 'a socket that has just joined location_tracking_channel', payload: { channel: 'location_tracking_channel', positions: '[{unit_number, ...point}] (last point of each open SOS)', truncated: 'boolean' } },
    unit_snapshot: { to: 'a socket that has just joined officer_tracking_channel', payload: { channel: 'officer_tracking_channel', units: '[{unit_id, latitude, longitude, timestamp}]', truncated: 'boolean' } },
    location_history: { room: 'the SOS room', payload: point },
    unit_location_update: { room: 'unit_<unit_number>', payload: point },
    location_tracking_update: { room: 'location_tracking_channel', payload: { unit_number: 'string | null', ...point } },
    unit_loc: { room: 'officer_tracking_channel', payload: { unit_id: 'string', latitude: 'number', longitude: 'number', timestamp: 'ISO 8601' } },
    sos_resolved: { room: 'the SOS room, the dispatched unit room, sos_channel', payload: { sos_id: 'integer', room_id: 'uuid', status: 'resolved | cancelled' } },
    sos_updated: {
      room: 'sos_channel, the SOS room, the dispatched unit room',
      payload: { sos_id: 'integer', seq: 'integer', cursor: 'integer', kind: 'string', status: 'string', unit_number_dispatched: 'string | null', acknowledged_flag: '0|1', by: '{kind, user_id, role}', at: 'ISO 8601' },
    },
    sos_escalated: { room: 'sos_channel (and the unit room for unit_not_responding)', payload: { sos_id: 'integer', seq: 'integer', cursor: 'integer', level: 'integer', reason: 'unacknowledged | unit_not_responding', waiting_seconds: 'integer', unit_number: 'string?' } },
    events_replay: { to: 'a socket that joined sos_channel with {after}', payload: { after: 'integer', events: '[{cursor, sos_id, seq, kind, by, at, data}]', truncated: 'boolean', cursor: 'integer' } },
    create_sos_response: { to: 'the sender of create_sos', payload: { success: 'boolean', data: 'the create-sos answer (on success)', error: 'string (on failure)', code: 'string?', fields: 'object?' } },
    update_location_response: { to: 'the sender of update_location', payload: { success: 'boolean', data: 'the update-location answer (on success)', error: 'string (on failure)', code: 'string?', fields: 'object?' } },
    error: {
      payload: { code: 'string', message: 'string', event: 'string?', fields: 'object?', retry_after: 'integer?' },
      note: 'code "session_revoked": the token was logged out, the password changed, or the account was deactivated or changed role/unit; the server disconnects the socket right after (reconnect with a valid token)',
    },
  },
}
