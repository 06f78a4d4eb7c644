#!/usr/bin/env ruby
# A classic snakepit worker (the v0.0.1 protocol): each request and reply is a 4-byte
# big-endian length followed by JSON, on stdin and stdout. Run it from a pool with
#   snakepit call ping --worker-cmd 'ruby bridge.rb' --classic
# (from this directory), or `--worker-cmd 'ruby examples/bridge.rb'` from the repository.
require "json"

$stdout.binmode
$stdin.binmode

def reply(id, result: nil, error: nil)
  message = { "id" => id, "success" => error.nil? }
  error ? message["error"] = error : message["result"] = result
  payload = JSON.generate(message)
  $stdout.write([payload.bytesize].pack("N") + payload)
  $stdout.flush
end

loop do
  header = $stdin.read(4)
  break if header.nil? || header.bytesize < 4
  request = JSON.parse($stdin.read(header.unpack1("N")))
  id = request["id"]
  args = request["args"] || {}
  case request["command"]
  when "ping" then reply(id, result: { "status" => "ok", "worker" => "ruby", "pid" => Process.pid })
  when "echo" then reply(id, result: args)
  when "add" then reply(id, result: args.fetch("a", 0) + args.fetch("b", 0))
  else reply(id, error: "Unknown command: #{request['command']}")
  end
end
