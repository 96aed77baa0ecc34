package server

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// saramaSCRAM adapts xdg-go/scram's client to sarama's SCRAMClient.
type saramaSCRAM struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (s *saramaSCRAM) Begin(user, password, authzID string) error {
	cl, err := s.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	s.conv = cl.NewConversation()
	return nil
}

func (s *saramaSCRAM) Step(challenge string) (string, error) { return s.conv.Step(challenge) }
func (s *saramaSCRAM) Done() bool                            { return s.conv.Done() }

// TestSaramaSCRAMOverSASLSSL: sarama with SCRAM-SHA-512 over SASL_SSL
// produces and consumes; a wrong password is refused.
func TestSaramaSCRAMOverSASLSSL(t *testing.T) {
	b, ca := saslBroker(t)
	config := func(password string) *sarama.Config {
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V3_6_0_0
		cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, ca.ClientConfig(nil)
		cfg.Net.SASL.Enable, cfg.Net.SASL.Handshake = true, true
		cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		cfg.Net.SASL.User, cfg.Net.SASL.Password = "alice", password
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{hash: scram.SHA512} }
		cfg.Producer.Return.Successes = true
		cfg.Metadata.Retry.Max = 0
		return cfg
	}
	addrs := []string{b.addrs["SASL_SSL"]}
	prod, err := sarama.NewSyncProducer(addrs, config("alice-secret"))
	if err != nil {
		t.Fatalf("sarama producer: %v", err)
	}
	defer prod.Close()
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "sarama-scram", Value: sarama.StringEncoder("hello")}); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cons, err := sarama.NewConsumer(addrs, config("alice-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition("sarama-scram", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	select {
	case m := <-pc.Messages():
		if string(m.Value) != "hello" {
			t.Fatalf("consumed %q", m.Value)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("nothing consumed")
	}
	if _, err := sarama.NewClient(addrs, config("wrong")); err == nil {
		t.Fatal("sarama connected with a wrong password")
	}
}
