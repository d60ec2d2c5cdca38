// The live-tracking page: reads its state from /t/<token>/state, then follows /t/<token>/events (server-sent
// events). Works without map tiles: the marker, the track and the coordinates need none. No framework.
;(function () {
  'use strict'
  var token = location.pathname.split('/')[2] || ''
  var base = '/t/' + encodeURIComponent(token)
  var STATUS = {
    loading: 'Loading…',
    active: 'Needs help: the police control room has been alerted',
    acknowledged: 'The police control room has seen her SOS',
    dispatched: 'Police are being sent to her',
    responding: 'Police are on their way to her',
    on_scene: 'Police have reached her',
    resolved: 'Her SOS was resolved',
    cancelled: 'Her SOS was called off',
  }
  var $ = function (id) { return document.getElementById(id) }
  var state = null
  var points = []
  var seen = {}
  var clockOffset = 0
  var map = null
  var marker = null
  var accuracy = null
  var track = null
  var source = null
  var fitted = false

  function time(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
  }

  function ago(iso) {
    var seconds = Math.max(0, Math.round((Date.now() + clockOffset - Date.parse(iso)) / 1000))
    if (seconds < 60) return seconds + ' s ago'
    if (seconds < 3600) return Math.floor(seconds / 60) + ' min ago'
    return Math.floor(seconds / 3600) + ' h ' + Math.floor((seconds % 3600) / 60) + ' min ago'
  }

  function key(p) { return p.at + '|' + p.lat + '|' + p.lng }

  function addPoint(p) {
    var k = key(p)
    if (seen[k]) return false
    seen[k] = true
    points.push(p)
    return true
  }

  function latest() {
    var best = null
    for (var i = 0; i < points.length; i++) if (!best || points[i].at >= best.at) best = points[i]
    return best
  }

  function ensureMap(first) {
    if (map || !window.L) return
    map = L.map('map', { zoomControl: true }).setView([first.lat, first.lng], 16)
    // Tiles are decoration: if the tile server is unreachable the marker, track and coordinates still show.
    L.tileLayer(state.map.tile_url, { attribution: state.map.attribution, maxZoom: 19 }).addTo(map)
  }

  function draw() {
    var last = latest()
    document.body.setAttribute('data-points', String(points.length))
    if (!last) {
      $('coords').textContent = state && state.positions_hidden ? 'no longer shown' : '–'
      $('age').textContent = '–'
      if (marker) {
        map.removeLayer(marker)
        map.removeLayer(accuracy)
        map.removeLayer(track)
        marker = accuracy = track = null
      }
      return
    }
    // The coordinates first: they need no map library and no tiles.
    $('coords').textContent = last.lat.toFixed(5) + ', ' + last.lng.toFixed(5) + (last.accuracy ? ' (± ' + Math.round(last.accuracy) + ' m)' : '')
    $('coords').setAttribute('data-lat', String(last.lat))
    $('coords').setAttribute('data-lng', String(last.lng))
    tick()
    ensureMap(last)
    if (!map) return
    if (!marker) {
      track = L.polyline([], { color: '#8a1c4a', weight: 4, opacity: 0.7 }).addTo(map)
      accuracy = L.circle([last.lat, last.lng], { radius: 0, color: '#8a1c4a', weight: 1, fillOpacity: 0.12 }).addTo(map)
      marker = L.marker([last.lat, last.lng], { title: 'Last position', alt: 'Last position' }).addTo(map)
    }
    var sorted = points.slice().sort(function (a, b) { return a.at < b.at ? -1 : a.at > b.at ? 1 : 0 })
    track.setLatLngs(sorted.map(function (p) { return [p.lat, p.lng] }))
    marker.setLatLng([last.lat, last.lng])
    accuracy.setLatLng([last.lat, last.lng])
    accuracy.setRadius(last.accuracy || 0)
    if (!fitted && sorted.length > 1) {
      map.fitBounds(track.getBounds(), { maxZoom: 17, padding: [24, 24] })
      fitted = true
    } else if (!map.getBounds().contains([last.lat, last.lng])) {
      map.panTo([last.lat, last.lng])
    }
  }

  function tick() {
    var last = latest()
    $('age').textContent = last ? 'updated ' + ago(last.at) : '–'
  }

  function render(next) {
    state = next
    clockOffset = Date.parse(next.server_time) - Date.now()
    document.body.setAttribute('data-status', next.status)
    document.title = next.name + ' · NaariKavach live location'
    $('name').textContent = next.name
    $('status').textContent = STATUS[next.status] || next.status
    $('link-for').textContent = 'This link was sent to ' + next.link.for + ' and works until ' + new Date(next.link.expires_at).toLocaleString() + '.'
    var closed = $('closed')
    if (!next.open) {
      closed.hidden = false
      closed.textContent = (next.status === 'resolved' ? 'This SOS was resolved' : 'This SOS was called off') + (next.closed_at ? ' at ' + time(next.closed_at) : '') + '. ' +
        (next.positions_hidden ? 'Her position is no longer shown.' : 'Her position is shown until ' + time(next.positions_until) + '.')
    } else {
      closed.hidden = true
    }
    var button = $('on-my-way')
    button.hidden = !next.open && !next.link.on_the_way_at
    button.disabled = !!next.link.on_the_way_at
    $('on-my-way-done').hidden = !next.link.on_the_way_at
    // A state is the whole picture: replace the track with it.
    points = []
    seen = {}
    for (var i = 0; i < next.positions.length; i++) addPoint(next.positions[i])
    draw()
  }

  function gone() {
    if (source) source.close()
    source = null
    document.body.setAttribute('data-status', 'gone')
    $('gone').hidden = false
    $('status').textContent = 'This link has ended'
    $('on-my-way').hidden = true
    $('live').textContent = 'ended'
    points = []
    seen = {}
    draw()
  }

  function follow() {
    if (!window.EventSource) return
    source = new EventSource(base + '/events')
    source.addEventListener('open', function () { $('live').textContent = 'live' })
    source.addEventListener('state', function (e) { render(JSON.parse(e.data)) })
    source.addEventListener('position', function (e) {
      if (addPoint(JSON.parse(e.data))) draw()
    })
    source.addEventListener('gone', gone)
    source.addEventListener('end', function () {
      source.close()
      $('live').textContent = 'ended'
    })
    source.addEventListener('error', function () {
      $('live').textContent = 'reconnecting…'
      // A refused stream (410/404) does not reconnect by itself: ask what the link says now.
      if (source && source.readyState === EventSource.CLOSED) {
        source = null
        setTimeout(load, 3000)
      }
    })
  }

  function load() {
    fetch(base + '/state', { cache: 'no-store', credentials: 'omit' }).then(function (res) {
      if (res.status === 404 || res.status === 410) return gone()
      if (!res.ok) throw new Error('state ' + res.status)
      return res.json().then(function (next) {
        render(next)
        if (!source && !(next.positions_hidden && !next.open)) follow()
      })
    }).catch(function () {
      $('live').textContent = 'offline, retrying…'
      setTimeout(load, 5000)
    })
  }

  $('on-my-way').addEventListener('click', function () {
    var button = $('on-my-way')
    button.disabled = true
    fetch(base + '/on-my-way', { method: 'POST', credentials: 'omit' }).then(function (res) {
      if (res.status === 410 || res.status === 404) return gone()
      if (!res.ok) { button.disabled = false; return }
      $('on-my-way-done').hidden = false
    }).catch(function () { button.disabled = false })
  })

  setInterval(tick, 1000)
  load()
})()
