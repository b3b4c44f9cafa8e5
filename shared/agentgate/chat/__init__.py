"""The chat turn service: principal + bot + conversation/memory + runner + persistence, as one
neutral event stream the protocol routes render (agentgate.chat.service)."""
