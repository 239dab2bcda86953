-- A message's secret (an SMS code, a one-time link) is kept apart from its body, sealed
-- under the platform's key, and erased once the message has been delivered: the stored
-- body says [[secret]] where the code goes. Bodies written before this keep their text.
ALTER TABLE outbox_messages ADD COLUMN secret_sealed TEXT;
