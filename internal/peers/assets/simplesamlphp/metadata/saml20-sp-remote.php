<?php
// The SP under test: its metadata XML is parsed by SimpleSAMLphp's own parser
// (as metarefresh would), then the test's per-SP options are laid over it.
$peer = json_decode(file_get_contents(getenv('SIMPLESAMLPHP_CONFIG_DIR') . '/gatehouse-peer.json'), true, 64, JSON_THROW_ON_ERROR);

foreach (\SimpleSAML\Metadata\SAMLParser::parseDescriptorsFile($peer['spmetadata']) as $entityId => $entity) {
    $sp = $entity->getMetadata20SP();
    if ($sp === null) {
        continue;
    }
    unset($sp['entityDescriptor']);
    $sp['authproc'] = [
        // The NameID comes from a private attribute, which is then dropped,
        // so it does not depend on which attributes the test releases.
        10 => [
            'class' => 'saml:AttributeNameID',
            'Format' => $peer['sp']['NameIDFormat'],
            'attribute' => 'gatehouse-peer-nameid',
        ],
        20 => [
            'class' => 'core:PHP',
            'code' => 'unset($attributes["gatehouse-peer-nameid"]);',
        ],
    ];
    $metadata[$entityId] = array_merge($sp, $peer['sp']);
}
