<?php
// The test's users, as an exampleauth:UserPass source.
$peer = json_decode(file_get_contents(__DIR__ . '/gatehouse-peer.json'), true, 64, JSON_THROW_ON_ERROR);

$config = [
    'admin' => ['core:AdminPassword'],
    'gatehouse-users' => array_merge(['exampleauth:UserPass'], $peer['users']),
];
