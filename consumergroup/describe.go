package consumergroup

// DescribeGroup returns a group's state and members (DescribeGroups);
// ErrGroupNotFound when there is no such group.
func (c *Coordinator) DescribeGroup(groupID string) (GroupDescription, error) {
	g, err := c.lookup(groupID, false)
	if err != nil {
		return GroupDescription{Group: groupID}, err
	}
	if g == nil {
		return GroupDescription{Group: groupID, State: Dead}, ErrGroupNotFound
	}
	var d GroupDescription
	if err := g.run(func() { d = g.describe() }); err != nil {
		return GroupDescription{Group: groupID, State: Dead}, goneErr(err)
	}
	return d, nil
}

func (g *group) describe() GroupDescription {
	d := GroupDescription{
		Group:        g.id,
		State:        g.state,
		ProtocolType: g.protocolType,
		Generation:   g.generation,
		Leader:       g.leader,
	}
	if g.state == Stable {
		// As Kafka: mid-rebalance the old generation's protocol is no
		// longer in force and the new one not yet, so none is named.
		d.Protocol = g.protocol
	}
	for _, m := range g.order {
		md := MemberDescription{
			MemberID:   m.id,
			InstanceID: m.instanceID,
			ClientID:   m.clientID,
			ClientHost: m.clientHost,
		}
		// Kafka fills metadata and assignment only when the group is
		// Stable: mid-rebalance they belong to no generation.
		if g.state == Stable {
			md.Metadata = m.metadataFor(g.protocol)
			md.Assignment = m.assignment
		}
		d.Members = append(d.Members, md)
	}
	return d
}

// ListGroups lists every group, sorted by id.
func (c *Coordinator) ListGroups() ([]GroupListing, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	loading := c.loadingLocked()
	c.mu.Unlock()
	if loading {
		// As Kafka: a list missing a loading partition's groups would
		// look complete.
		return nil, ErrLoadInProgress
	}
	var out []GroupListing
	for _, g := range c.allGroups() {
		var l GroupListing
		if g.run(func() {
			l = GroupListing{Group: g.id, ProtocolType: g.protocolType, State: g.state, Members: len(g.order)}
		}) == nil {
			out = append(out, l)
		}
	}
	return out, nil
}

// Lag returns every committed offset of every group with its partition's
// log end offset (high watermark), sorted by group, topic and partition.
func (c *Coordinator) Lag() []PartitionLag {
	if c.ready() != nil {
		return nil
	}
	var out []PartitionLag
	for _, g := range c.allGroups() {
		_ = g.run(func() {
			for tp, om := range g.offsets.all() {
				out = append(out, PartitionLag{Group: g.id, TopicPartition: tp, Committed: om.Offset})
			}
		})
	}
	c.fillLag(out)
	return out
}
